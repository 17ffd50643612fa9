// html-validate's recommended rules for the pages we serve (tests/html_validate.py).
module.exports = {
  extends: ["html-validate:recommended"],
  rules: {
    // A group of checkboxes sharing one name is how a form sends a list (the preference page's
    // sections: request.form.getlist); html-validate allows it only for radios and buttons.
    "form-dup-name": ["error", { shared: ["radio", "button", "reset", "submit", "checkbox"] }],
  },
};

// html-validate's recommended rules for the emails (templates/email/), and those for whole
// documents (heading levels, doctype), with only the rules that HTML email needs switched off,
// each with why. The web pages are not checked with this file.
export default {
  root: true,
  extends: ["html-validate:recommended", "html-validate:document"],
  rules: {
    // Styles are inlined on purpose (css-inline, digest/editions/render.py): Gmail's apps with
    // non-Google accounts, Gmail mobile web and others drop <style>, so inline styles are all
    // those readers get.
    "no-inline-style": "off",
    // width, cellpadding, cellspacing, border, align and bgcolor on tables and cells: Outlook for
    // Windows (Word engine) ignores the CSS equivalents on tables, so the attributes are the layout.
    "no-deprecated-attr": "off",
    // <!--[if mso]> ghost tables: the only way to hold the fluid layout to 600 px in Outlook for
    // Windows, which ignores max-width. Other clients read them as comments.
    "no-conditional-comment": "off",
    // <title> is the email's subject, whose length is the subject's own matter (an alert's names
    // its topics and article); mail clients show the subject, not the title.
    "long-title": "off",
  },
};

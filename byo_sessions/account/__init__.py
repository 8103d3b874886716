"""End-user account pages a project can include: "Your sessions" and a login view that says
why a browser was signed out and offers a way past a session limit (docs/guides/account-pages.md).

    path("account/sessions/", include(account_urls()))            # byo_sessions.account.urls
    path("login/", byo_sessions.account.views.LoginView.as_view(template_name=...))

Views are a thin layer over ``byo_sessions.sessions``; the words for end reasons live in
``reasons.py``; templates under ``byo_sessions/account/`` extend the ``base_template``
given to ``account_urls`` (default ``byo_sessions/account/base.html``).
"""

"""The physician worklist: drafts awaiting review, the draft page (letter editor beside the source facts, fact-check
findings marked), sign / reject / save edit / regenerate through ``rtletter.agent.review``.

Modules: ``routes`` (FastAPI router, ``build_worklist_router``; the web app includes it), ``views`` (what the pages
show, pure), ``auth`` (sessions, CSRF, roles, login rate limit, proxy-header mode), ``users`` (accounts, sessions and
login attempts in the job database; argon2id), ``dashboard`` (feedback figures), ``templates/`` and ``static/``
(server-rendered HTML, one stylesheet, no scripts). The buttons call the sign-off service,
``rtletter.agent.review.ReviewService``, with the signed-in ``users.User``. The accounts' command line
(``rtletter users``) is ``rtletter.cli.users``.
"""

"""`shuttlesense.serve`: the web page's entry points under the name the README uses.

The code lives in the web stage (`shuttlesense.web.serve`); this alias keeps
`from shuttlesense.serve import ServeArguments, create_app` working.
"""

from shuttlesense.web.serve import ServeArguments, create_app, main

__all__ = ["ServeArguments", "create_app", "main"]

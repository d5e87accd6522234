"""The portal's routes, one module a kind of link: `reply` (/r/…), `dossier`
(/dossier/…) and `decisions` (/d/…). Each is an APIRouter whose routes get their
collaborators from `portal.deps`; `portal.app.create_app` includes them."""

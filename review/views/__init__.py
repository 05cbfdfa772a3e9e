"""The site's pages, one module per area. A view authorises (`shared.require` or a selector that
404s), parses a form, calls one selector or service, and renders; nothing here writes the ORM."""

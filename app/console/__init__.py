"""The support console at /console: server-rendered pages (Jinja2) and plain-JS assets served from this package (no
CDN, no build step). The pages hold no data: their scripts call the HTTP API with the API key the agent signed in
with, kept in the browser's sessionStorage only."""

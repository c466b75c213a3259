"""Auth routes, one module per concern, so that each function's cold start imports only the
code of its own routes (`auth-me` loads neither bcrypt's login path nor the mail flows):
`signin` (register, login, refresh, logout), `me`, `account` (sessions), `recovery` (password
reset and change), `verification` (email confirmation)."""

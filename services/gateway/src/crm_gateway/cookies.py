"""The gateway's HTTP clients serve every caller, so they must never keep cookies."""

from http.cookiejar import CookieJar, DefaultCookiePolicy


def without_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: one caller's Set-Cookie (a portal session) would
    otherwise go along with every later caller's request."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))

package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// requireToken guards a mutating handler with the bearer token: 403 when
// no token is configured, 401 when the request's token is missing or wrong,
// then 400 when X-Vigil-User cannot be recorded as given.
// Tokens are compared as SHA-256 digests in constant time, so neither
// their content nor their length leaks through timing.
func (s *Server) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Token == "" {
			writeError(w, http.StatusForbidden, "mutating calls are disabled: no admin token is configured (admin.token_file or VIGIL_ADMIN_TOKEN)")
			return
		}
		auth := r.Header.Get("Authorization")
		scheme, token, found := strings.Cut(auth, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>)")
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
			s.log.Warn("admin call with a wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		if msg := checkUser(r); msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		next(w, r)
	}
}

// maxUserLen bounds the X-Vigil-User name recorded with overrides.
const maxUserLen = 64

// userHeader names who acts in a mutating call.
const userHeader = "X-Vigil-User"

// checkUser rejects an X-Vigil-User that cannot be recorded as given:
// longer than maxUserLen bytes or holding unprintable characters. Recording
// "admin" instead would hide who acted.
func checkUser(r *http.Request) string {
	u := strings.TrimSpace(r.Header.Get(userHeader))
	if len(u) > maxUserLen {
		return fmt.Sprintf("%s is %d bytes long; at most %d are recorded", userHeader, len(u), maxUserLen)
	}
	for _, c := range u {
		if !unicode.IsPrint(c) {
			return fmt.Sprintf("%s holds an unprintable character (%U)", userHeader, c)
		}
	}
	return ""
}

// who names the caller of a mutating call: the X-Vigil-User header (which
// requireToken has checked), else "admin".
func who(r *http.Request) string {
	if u := strings.TrimSpace(r.Header.Get(userHeader)); u != "" {
		return u
	}
	return "admin"
}

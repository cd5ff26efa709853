package serve

import (
	"net/http"

	"github.com/breakerwatch/breakerwatch/internal/config"
)

// protocols are the listeners' protocols: HTTP/1.1 and HTTP/2 (over TLS,
// negotiated by ALPN), and unless cfg.DisableH2C, HTTP/2 over cleartext
// with prior knowledge (h2c), which gRPC clients speak. A plaintext
// connection is served as HTTP/2 only when it opens with HTTP/2's preface,
// so HTTP/1.1 clients on the same port are unaffected; the Upgrade: h2c
// dance of HTTP/1.1 is not supported (no gRPC client uses it).
func protocols(cfg *config.Config) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(!cfg.DisableH2C)
	return p
}

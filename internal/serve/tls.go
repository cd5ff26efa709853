package serve

import (
	"crypto/tls"
	"strings"
	"sync/atomic"

	"github.com/breakerwatch/breakerwatch/internal/config"
)

// listenerCert is the proxy listener's certificate (tls_cert_file,
// tls_key_file), read at start-up and again on each configuration reload,
// so that a renewed certificate is served to new connections without a
// restart.
type listenerCert struct {
	cert atomic.Pointer[tls.Certificate]
}

// newListenerCert loads cfg's listener certificate; nil when cfg serves
// plain HTTP.
func newListenerCert(cfg *config.Config) (*listenerCert, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	lc := &listenerCert{}
	return lc, lc.load(cfg)
}

func (lc *listenerCert) load(cfg *config.Config) error {
	cert, err := config.LoadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return err
	}
	lc.cert.Store(&cert)
	return nil
}

// serverConfig is the listener's TLS configuration. http.Server.ServeTLS
// adds HTTP/2 to its ALPN protocols.
func (lc *listenerCert) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return lc.cert.Load(), nil
		},
	}
}

// httpsURL is base (http://host:port) with the https scheme.
func httpsURL(base string) string { return "https://" + strings.TrimPrefix(base, "http://") }

package azurite_test

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/state/azurite"
)

func TestStartTableAndBlob(t *testing.T) {
	t.Setenv(azurite.EnvTableConnectionString, "")
	t.Setenv(azurite.EnvBlobConnectionString, "")
	s := azurite.Start(azurite.Table | azurite.Blob)
	defer s.Stop()
	for name, conn := range map[string]string{"TableEndpoint": s.TableConnectionString(t), "BlobEndpoint": s.BlobConnectionString(t)} {
		if !strings.Contains(conn, "AccountName="+azurite.Account+";") || !strings.Contains(conn, "AccountKey="+azurite.AccountKey+";") {
			t.Errorf("%s connection string %q lacks the development account", name, conn)
		}
		var endpoint string
		for _, kv := range strings.Split(conn, ";") {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				endpoint = v
			}
		}
		u, err := url.Parse(endpoint)
		if err != nil || !net.ParseIP(u.Hostname()).IsLoopback() {
			t.Fatalf("%s = %q: want a loopback endpoint", name, endpoint)
		}
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Close()
	}
	if env := s.Env(); len(env) != 2 {
		t.Errorf("Env() = %q", env)
	}
	s.Stop()
	if u := strings.SplitN(s.Env()[0], "http://", 2); len(u) == 2 {
		addr := strings.SplitN(u[1], "/", 2)[0]
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("azurite still listens on %s after Stop", addr)
		}
	} else {
		t.Errorf("Env() = %q: no endpoint", s.Env())
	}
}

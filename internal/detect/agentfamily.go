package detect

import "strings"

// agentFamilies maps a marker found in a user agent (lower-cased) to its
// family, most specific first: Edge's agent also names Chrome and Safari,
// Chrome's names Safari. Tools and SDKs come before browsers because some
// embed a browser string.
var agentFamilies = []struct{ marker, family string }{
	{"azurehound", "AzureHound"},
	{"roadtools", "ROADtools"},
	{"python-requests", "python-requests"},
	{"python-urllib", "python-urllib"},
	{"aiohttp", "python-aiohttp"},
	{"go-http-client", "Go-http-client"},
	{"curl/", "curl"},
	{"wget/", "Wget"},
	{"powershell", "PowerShell"},
	{"azure-cli", "Azure CLI"},
	{"azsdk-", "Azure SDK"},
	{"okhttp", "okhttp"},
	{"java/", "Java"},
	{"node-fetch", "node-fetch"},
	{"axios", "axios"},
	{"postman", "Postman"},
	{"edg/", "Edge"},
	{"edge/", "Edge"},
	{"opr/", "Opera"},
	{"firefox/", "Firefox"},
	{"chrome/", "Chrome"},
	{"crios/", "Chrome"},
	{"safari/", "Safari"},
	{"msal", "MSAL"},
	{"microsoft office", "Microsoft Office"},
	{"outlook", "Outlook"},
}

// agentByFirst lists, per first byte, the indexes into agentFamilies of
// the markers starting with it, in list order; agentPairs holds a bit per
// pair of bytes some marker starts with.
var agentByFirst, agentPairs = func() (t [256][]uint8, pairs [256][4]uint64) {
	for i, f := range agentFamilies {
		m := f.marker
		t[m[0]] = append(t[m[0]], uint8(i))
		pairs[m[0]][m[1]>>6] |= 1 << (m[1] & 63)
	}
	return t, pairs
}()

// lowerASCII maps each byte to its ASCII lower case.
var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] += 'a' - 'A'
		}
	}
	return t
}()

// AgentFamily reduces a user agent to its family ("Chrome", "Edge",
// "python-requests", "AzureHound"), dropping versions and platforms so that
// a browser update is not a new agent. An unknown agent is its first
// product token without the version ("Foo/1.2 (x)" gives "Foo").
//
// The family is that of the first marker of agentFamilies that
// strings.ToLower(agent) contains: found in one pass over the agent, not
// one scan per marker (a browser's agent, which holds none of the tools'
// markers, was scanned 21 times over).
func AgentFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	best, ascii := agentMarker(ua)
	if best > 0 && !ascii {
		// Lower-casing a letter beyond ASCII may give an ASCII one (the
		// Kelvin sign a k): what strings.ToLower gives is searched too.
		best, _ = agentMarker(strings.ToLower(ua))
	}
	if best < len(agentFamilies) {
		return agentFamilies[best].family
	}
	tok, _, _ := strings.Cut(ua, " ")
	tok, _, _ = strings.Cut(tok, "/")
	return tok
}

// agentMarker returns the index of the first marker of agentFamilies s
// contains, its bytes lower-cased as ASCII (len(agentFamilies) for none),
// and whether every byte it read was ASCII (it reads them all unless it
// finds the first marker).
func agentMarker(s string) (best int, ascii bool) {
	best = len(agentFamilies)
	var all byte
	for i := 0; i+1 < len(s) && best > 0; i++ { // every marker has two bytes or more
		c0, c1 := lowerASCII[s[i]], lowerASCII[s[i+1]]
		all |= s[i] | s[i+1]
		if agentPairs[c0][c1>>6]&(1<<(c1&63)) == 0 {
			continue
		}
	next:
		for _, j := range agentByFirst[c0] {
			if int(j) >= best {
				break // listed in order: the rest come later still
			}
			m := agentFamilies[j].marker
			if len(s)-i < len(m) {
				continue
			}
			for k := 1; k < len(m); k++ {
				if lowerASCII[s[i+k]] != m[k] {
					continue next
				}
			}
			best = int(j)
			break
		}
	}
	if len(s) == 1 {
		all = s[0]
	}
	return best, all < 0x80
}

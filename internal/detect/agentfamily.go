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

// AgentFamily reduces a user agent to its family ("Chrome", "Edge",
// "python-requests", "AzureHound"), dropping versions and platforms so that
// a browser update is not a new agent. An unknown agent is its first
// product token without the version ("Foo/1.2 (x)" gives "Foo").
func AgentFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	// An ASCII agent (nearly all) is searched folding case as it goes;
	// any other lower-cased whole, as strings.ToLower folds it.
	ascii := isASCII(ua)
	low := ua
	if !ascii {
		low = strings.ToLower(ua)
	}
	for _, f := range agentFamilies {
		if ascii && containsLowerASCII(ua, f.marker) || !ascii && strings.Contains(low, f.marker) {
			return f.family
		}
	}
	tok, _, _ := strings.Cut(ua, " ")
	tok, _, _ = strings.Cut(tok, "/")
	return tok
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsLowerASCII reports whether strings.ToLower(s) contains marker,
// for s and marker ASCII and marker lower-case, without the lowered copy.
func containsLowerASCII(s, marker string) bool {
	if marker == "" {
		return true
	}
	c0 := marker[0]
	for i := 0; i+len(marker) <= len(s); i++ {
		if lowerASCII(s[i]) != c0 {
			continue
		}
		j := 1
		for j < len(marker) && lowerASCII(s[i+j]) == marker[j] {
			j++
		}
		if j == len(marker) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

package helmchart

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The customer page (console.portal) of the CI values.
const (
	portalURL  = "https://vpn.example.com/account"
	portalPort = 8091
)

func env(c corev1.Container) map[string]string {
	e := map[string]string{}
	for _, v := range c.Env {
		e[v.Name] = v.Value
	}
	return e
}

func portalVars(c corev1.Container) []string {
	var names []string
	for _, v := range c.Env {
		if strings.HasPrefix(v.Name, "PORTAL_") {
			names = append(names, v.Name)
		}
	}
	slices.Sort(names)
	return names
}

func (m manifests) named(t *testing.T, suffix string) (*corev1.Service, *networkingv1.Ingress) {
	t.Helper()
	var svc *corev1.Service
	var ing *networkingv1.Ingress
	for i := range m.services {
		if strings.HasSuffix(m.services[i].Name, suffix) {
			svc = &m.services[i]
		}
	}
	for i := range m.ingresses {
		if strings.HasSuffix(m.ingresses[i].Name, suffix) {
			ing = &m.ingresses[i]
		}
	}
	return svc, ing
}

func (m manifests) networkPolicy(t *testing.T, component string) networkingv1.NetworkPolicy {
	t.Helper()
	for _, n := range m.networkPolicies {
		if n.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == component {
			return n
		}
	}
	t.Fatalf("no NetworkPolicy for %s", component)
	return networkingv1.NetworkPolicy{}
}

// rulesByPort maps each port of np's ingress rules to the peers allowed
// to it (nil: anyone); a port in two rules fails.
func rulesByPort(t *testing.T, np networkingv1.NetworkPolicy) map[string][]networkingv1.NetworkPolicyPeer {
	t.Helper()
	by := map[string][]networkingv1.NetworkPolicyPeer{}
	for _, r := range np.Spec.Ingress {
		if len(r.Ports) != 1 {
			t.Errorf("NetworkPolicy %s: a rule for ports %v; want one port a rule, each with its own sources", np.Name, r.Ports)
		}
		for _, p := range r.Ports {
			if _, dup := by[p.Port.String()]; dup {
				t.Errorf("NetworkPolicy %s: port %s in two rules", np.Name, p.Port)
			}
			by[p.Port.String()] = r.From
		}
	}
	return by
}

// Off (the default), the customer page renders nothing: no Service, no
// Ingress, no port, no variable, no key, no NetworkPolicy rule; and its
// other values, set, change nothing.
func TestCustomerPageOffRendersNothingNew(t *testing.T) {
	t.Parallel()
	off := render(t, "--set", "console.portal.enabled=false")
	unset := render(t, "--set", "console.portal.enabled=false", "--set", "console.portal.url=", "--set", "console.portal.linkTTL=",
		"--set", "console.portal.clientIPHeader=", "--set", "console.portal.ingress.enabled=false",
		"--set", "console.portal.ingress.path=/", "--set", "networkPolicy.portalFrom=null")
	if off.raw != unset.raw {
		t.Error("with console.portal.enabled=false, the portal's other values change the manifests")
	}
	for _, s := range []string{"PORTAL_", "portal-key", "-portal", "portal"} {
		if strings.Contains(off.raw, s) {
			t.Errorf("with the customer page off, the manifests hold %q", s)
		}
	}
	if svc, ing := off.named(t, "-portal"); svc != nil || ing != nil {
		t.Errorf("with the customer page off: Service %v, Ingress %v", svc, ing)
	}
	for _, s := range off.services {
		if s.Spec.Selector["app.kubernetes.io/component"] == "console" {
			t.Errorf("Service %s selects the console's pods", s.Name)
		}
	}
	console := off.deployment(t, "console").Spec.Template.Spec.Containers[0]
	if len(console.Ports) != 1 || console.Ports[0].Name != "http" {
		t.Errorf("the console's ports %+v; want http (ADMIN_ADDR) alone", console.Ports)
	}
	for _, d := range off.deployments {
		if got := portalVars(d.Spec.Template.Spec.Containers[0]); len(got) > 0 {
			t.Errorf("%s: %v with the customer page off", d.Name, got)
		}
	}
	if by := rulesByPort(t, off.networkPolicy(t, "console")); len(by) != 0 {
		t.Errorf("the console's NetworkPolicy admits %v with consoleFrom empty and the page off; want nothing", by)
	}
	// Nor is its key required of a chart-made Secret.
	if _, stderr, err := helm(append([]string{"template", "vpnbill", chart, "-f", lintValues, "--set", "console.portal.enabled=false"},
		withoutPortalKey(valueSets["chart-made Secret"])...)...); err != nil {
		t.Errorf("a chart-made Secret without portal-key, the page off: %v\n%s", err, stderr)
	}
}

// On (the CI values), the console serves the page on its own port, and
// that port alone is exposed: a Service selecting the console's pods, an
// Ingress to it; the worker links to the page; both read the key as a file.
func TestCustomerPage(t *testing.T) {
	t.Parallel()
	m := render(t)
	consoleDep := m.deployment(t, "console")
	console := consoleDep.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range console.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := map[string]int32{"http": 8090, "portal": portalPort}; !reflect.DeepEqual(ports, want) {
		t.Errorf("the console's ports %v; want %v", ports, want)
	}

	svc, ing := m.named(t, "-portal")
	if svc == nil || ing == nil {
		t.Fatalf("Service %v, Ingress %v; want the customer page's", svc, ing)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, consoleDep.Spec.Selector.MatchLabels) || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s selects %v (%s); want the console's pods %v, ClusterIP", svc.Name, svc.Spec.Selector, svc.Spec.Type, consoleDep.Spec.Selector.MatchLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "portal" || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("Service %s ports %+v; want 80 to the console's portal port alone", svc.Name, svc.Spec.Ports)
	}
	// No Service reaches the console's own port, by name or by number.
	for _, s := range m.services {
		if !selects(s.Spec.Selector, consoleDep.Spec.Template.Labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if tp := p.TargetPort.String(); tp != "portal" || p.TargetPort.IntValue() == 8090 {
				t.Errorf("Service %s exposes the console's port %s", s.Name, tp)
			}
		}
	}
	if c := ing.Spec.IngressClassName; c == nil || *c != "nginx" {
		t.Errorf("Ingress %s class %v, want nginx", ing.Name, c)
	}
	if len(ing.Spec.TLS) != 1 || !reflect.DeepEqual(ing.Spec.TLS[0].Hosts, []string{"vpn.example.com"}) {
		t.Errorf("Ingress %s TLS %+v", ing.Name, ing.Spec.TLS)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "vpn.example.com" || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
		t.Fatalf("Ingress %s rules %+v; want one path on vpn.example.com", ing.Name, ing.Spec.Rules)
	}
	p := ing.Spec.Rules[0].HTTP.Paths[0]
	if p.Path != "/account" || p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix ||
		p.Backend.Service == nil || p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Name != svc.Spec.Ports[0].Name {
		t.Errorf("Ingress %s routes %s (%v) to %+v; want /account, Prefix, to %s port %s", ing.Name, p.Path, p.PathType, p.Backend.Service, svc.Name, svc.Spec.Ports[0].Name)
	}
	// The webhook's Ingress is as it was: the page adds no path to it.
	_, webhookIng := m.named(t, "-webhook")
	for _, r := range webhookIng.Spec.Rules {
		for _, wp := range r.HTTP.Paths {
			if wp.Backend.Service.Name != strings.TrimSuffix(svc.Name, "-portal")+"-webhook" {
				t.Errorf("the webhook's Ingress routes %s to %s", wp.Path, wp.Backend.Service.Name)
			}
		}
	}

	// The variables: the console serves, the worker links; the webhook knows nothing of it.
	ce, we := env(console), env(m.deployment(t, "worker").Spec.Template.Spec.Containers[0])
	wantConsole := map[string]string{"PORTAL_ADDR": ":8091", "PORTAL_URL": portalURL, "PORTAL_KEY_FILE": "/run/secrets/vpnbill/portal-key",
		"PORTAL_LINK_TTL": "72h", "PORTAL_CLIENT_IP_HEADER": "X-Forwarded-For"}
	for k, v := range wantConsole {
		if ce[k] != v {
			t.Errorf("the console's %s=%q, want %q", k, ce[k], v)
		}
	}
	wantWorker := map[string]string{"PORTAL_URL": portalURL, "PORTAL_KEY_FILE": "/run/secrets/vpnbill/portal-key", "PORTAL_LINK_TTL": "72h"}
	worker := m.deployment(t, "worker")
	if got := portalVars(worker.Spec.Template.Spec.Containers[0]); !reflect.DeepEqual(got, []string{"PORTAL_KEY_FILE", "PORTAL_LINK_TTL", "PORTAL_URL"}) {
		t.Errorf("the worker's portal variables %v; want PORTAL_URL, PORTAL_KEY_FILE, PORTAL_LINK_TTL", got)
	}
	for k, v := range wantWorker {
		if we[k] != v {
			t.Errorf("the worker's %s=%q, want %q", k, we[k], v)
		}
	}
	if got := portalVars(m.deployment(t, "webhook").Spec.Template.Spec.Containers[0]); len(got) > 0 {
		t.Errorf("the webhook reads %v", got)
	}
	for _, d := range []appsv1.Deployment{consoleDep, worker} {
		if !mountsSecretKey(d, "portal-key", "/run/secrets/vpnbill/portal-key") {
			t.Errorf("%s: PORTAL_KEY_FILE is not the Secret's portal-key", d.Name)
		}
	}
	// The page resets passwords and emails links: the console has what resend needs.
	for _, v := range []string{"SMTP_URL", "CREDENTIALS_KEY", "PUREVPN_API_PASSWORD", "VPNKI_API_KEY"} {
		if !slices.Contains(secretFiles(consoleDep), v) {
			t.Errorf("the console does not read %s_FILE; the page needs it", v)
		}
	}
	for _, c := range m.configMaps {
		for k := range c.Data {
			if strings.HasPrefix(k, "PORTAL_") {
				t.Errorf("ConfigMap %s sets %s; the page's variables are the worker's and the console's own", c.Name, k)
			}
		}
	}

	// Probes: the console's, on its own port; the page has no health route.
	for _, pr := range []*corev1.Probe{console.LivenessProbe, console.ReadinessProbe, console.StartupProbe} {
		if pr != nil && (pr.HTTPGet == nil || pr.HTTPGet.Port.String() != "http") {
			t.Errorf("the console has a probe %+v; want /healthz and /readyz on http only", pr)
		}
	}
}

// The key's Secret key may have another name: it is still the file
// portal-key; its value is in the Secret alone.
func TestCustomerPageKey(t *testing.T) {
	t.Parallel()
	key := randomSecret(t, "pk")
	args := append(slices.Clone(valueSets["chart-made Secret"]), "--set", "console.portal.secretKey=customer-page-key",
		"--set-string", "secrets.values.customer-page-key="+key, "--set", "console.secretKeys={console-session-key,portal-key,customer-page-key}")
	m := render(t, args...)
	for _, comp := range []string{"console", "worker"} {
		d := m.deployment(t, comp)
		if !mountsSecretKey(d, "customer-page-key", env(d.Spec.Template.Spec.Containers[0])["PORTAL_KEY_FILE"]) {
			t.Errorf("%s: PORTAL_KEY_FILE is not the Secret's customer-page-key", comp)
		}
		var n int
		for _, f := range secretFiles(d) {
			if f == "PORTAL_KEY" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s reads PORTAL_KEY_FILE %d times; want once (the page's key, not again from console.secretKeys)", comp, n)
		}
	}
	if n := strings.Count(m.raw, key); n != 1 {
		t.Errorf("the key appears %d times in the manifests; want once, in the Secret", n)
	}
	for _, c := range m.configMaps {
		for k, v := range c.Data {
			if strings.Contains(v, key) {
				t.Errorf("ConfigMap %s, key %s, holds the page's key", c.Name, k)
			}
		}
	}
}

// withoutPortalKey is args without its --set of secrets.values.portal-key.
func withoutPortalKey(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if i+1 < len(args) && strings.HasPrefix(args[i+1], "secrets.values.portal-key=") {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// mountsSecretKey tells whether path, in d's container, is the Secret key key.
func mountsSecretKey(d appsv1.Deployment, key, path string) bool {
	pod := d.Spec.Template.Spec
	for _, vm := range pod.Containers[0].VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Key == key && vm.MountPath+"/"+item.Path == path {
					return true
				}
			}
		}
	}
	return false
}

// The page is public: its port admits networkPolicy.portalFrom (anyone when
// empty); the console's own port still admits consoleFrom alone.
func TestCustomerPageNetworkPolicy(t *testing.T) {
	t.Parallel()
	ingressNginx := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}}}
	ops := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ops"}}}

	// CI values: portalFrom the ingress controller, consoleFrom empty.
	by := rulesByPort(t, render(t).networkPolicy(t, "console"))
	if want := map[string][]networkingv1.NetworkPolicyPeer{"portal": {ingressNginx}}; !reflect.DeepEqual(by, want) {
		t.Errorf("the console's NetworkPolicy admits %v; want the portal port from the ingress controller alone", by)
	}

	// portalFrom empty: anyone to the page's port; consoleFrom set: its port from it alone.
	m := render(t, "--set", "networkPolicy.portalFrom=null", "--set", "networkPolicy.consoleFrom[0].namespaceSelector.matchLabels.team=ops")
	by = rulesByPort(t, m.networkPolicy(t, "console"))
	if want := map[string][]networkingv1.NetworkPolicyPeer{"portal": nil, "http": {ops}}; !reflect.DeepEqual(by, want) {
		t.Errorf("the console's NetworkPolicy admits %v; want anyone to portal, consoleFrom alone to http", by)
	}
	// Anyone reaches the webhook's public port and the page's, nothing else.
	for _, np := range m.networkPolicies {
		for _, r := range np.Spec.Ingress {
			if len(r.From) > 0 {
				continue
			}
			for _, p := range r.Ports {
				comp := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"]
				if exposed := comp == "webhook" && p.Port.String() == "http" || comp == "console" && p.Port.String() == "portal"; !exposed {
					t.Errorf("NetworkPolicy %s admits anyone to %s port %s", np.Name, comp, p.Port)
				}
			}
		}
	}
}

// The chart stops with a message rather than deploy a page that cannot
// work.
func TestCustomerPageRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no URL":               {[]string{"--set", "console.portal.url="}, "set console.portal.url (the customer page's public URL, e.g. https://vpn.example/account)"},
		"no console":           {[]string{"--set", "console.enabled=false"}, "console.portal.enabled needs console.enabled"},
		"a URL without scheme": {[]string{"--set", "console.portal.url=vpn.example.com/account"}, "want an absolute http(s) URL"},
		"a URL with a query":   {[]string{"--set", "console.portal.url=https://vpn.example.com/account?x=1"}, "want an absolute http(s) URL"},
		"the console's port":   {[]string{"--set", "console.portal.port=8090"}, "console.portal.port 8090 is the console's port"},
		"an Ingress path beside the URL's": {[]string{"--set", "console.portal.ingress.path=/acc"},
			`console.portal.ingress.path "/acc" does not lead to console.portal.url's path "/account"`},
		"no key in a chart-made Secret": {withoutPortalKey(valueSets["chart-made Secret"]), "secrets.values.portal-key is empty"},
		"the key in the environment":    {[]string{"--set", "config.extraEnv.PORTAL_KEY=x"}, "config.extraEnv.PORTAL_KEY: secrets go in the Secret"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, stderr, err := helm(append([]string{"template", "vpnbill", chart, "-f", lintValues}, tc.args...)...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("err %v, %s; want it refused with %q", err, stderr, tc.want)
			}
		})
	}
	// Paths that lead to the URL's are fine.
	for _, path := range []string{"/", "/account", "/account/"} {
		if _, stderr, err := helm("template", "vpnbill", chart, "-f", lintValues, "--set", "console.portal.ingress.path="+path); err != nil {
			t.Errorf("ingress.path %s: %v\n%s", path, err, stderr)
		}
	}
}

// Package helmchart tests the Helm chart deploy/helm/vpnbill: it lints and
// renders the chart with the helm pinned in go.mod (go tool helm) and reads
// the manifests as the Kubernetes API would, field names checked.
package helmchart

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

const chart = "vpnbill"

// lintValues are the CI values: every required value, every optional part on.
const lintValues = "vpnbill/ci/lint-values.yaml"

// manifests is one rendering of the chart, decoded.
type manifests struct {
	deployments     []appsv1.Deployment
	services        []corev1.Service
	ingresses       []networkingv1.Ingress
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	budgets         []policyv1.PodDisruptionBudget
	networkPolicies []networkingv1.NetworkPolicy
	// Custom resources (the Prometheus Operator's), by kind.
	custom map[string][]map[string]any
	// raw is the rendered text.
	raw string
}

// helmPath is the pinned helm (the tool block of go.mod), built once.
var helmPath string

func TestMain(m *testing.M) {
	// `go tool -n helm` builds the tool into the build cache if needed and
	// prints its path: one build, not one per parallel test.
	out, err := exec.Command("go", "tool", "-n", "helm").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go tool -n helm:", err)
		os.Exit(1)
	}
	helmPath = strings.TrimSpace(string(out))
	os.Exit(m.Run())
}

// helm runs the pinned helm in this directory.
func helm(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(helmPath, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// render renders the chart with the CI values and then args (--set …, -f …).
func render(t *testing.T, args ...string) manifests {
	t.Helper()
	out, stderr, err := helm(append([]string{"template", "vpnbill", chart, "--namespace", "shop", "-f", lintValues}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return decode(t, out)
}

// decode reads every document strictly: a field the API does not have fails.
func decode(t *testing.T, text string) manifests {
	t.Helper()
	m := manifests{custom: map[string][]map[string]any{}, raw: text}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if doc == nil {
			continue
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		kind, _ := doc["kind"].(string)
		strict := func(v any) {
			t.Helper()
			if err := sigsyaml.UnmarshalStrict(b, v); err != nil {
				t.Fatalf("%s %v: %v", kind, doc["metadata"], err)
			}
		}
		switch kind {
		case "Deployment":
			var d appsv1.Deployment
			strict(&d)
			m.deployments = append(m.deployments, d)
		case "Service":
			var s corev1.Service
			strict(&s)
			m.services = append(m.services, s)
		case "Ingress":
			var i networkingv1.Ingress
			strict(&i)
			m.ingresses = append(m.ingresses, i)
		case "ConfigMap":
			var c corev1.ConfigMap
			strict(&c)
			m.configMaps = append(m.configMaps, c)
		case "Secret":
			var s corev1.Secret
			strict(&s)
			m.secrets = append(m.secrets, s)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			strict(&p)
			m.budgets = append(m.budgets, p)
		case "NetworkPolicy":
			var n networkingv1.NetworkPolicy
			strict(&n)
			m.networkPolicies = append(m.networkPolicies, n)
		case "PrometheusRule", "PodMonitor":
			m.custom[kind] = append(m.custom[kind], doc)
		default:
			t.Fatalf("the chart renders a %s the test does not know: check it, then add it here", kind)
		}
	}
	return m
}

func (m manifests) deployment(t *testing.T, component string) appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Spec.Template.Labels["app.kubernetes.io/component"] == component {
			return d
		}
	}
	t.Fatalf("no %s Deployment", component)
	return appsv1.Deployment{}
}

func components(m manifests) []string {
	var c []string
	for _, d := range m.deployments {
		c = append(c, d.Spec.Template.Labels["app.kubernetes.io/component"])
	}
	slices.Sort(c)
	return c
}

func TestLint(t *testing.T) {
	t.Parallel()
	out, stderr, err := helm("lint", "--strict", chart, "-f", lintValues)
	if err != nil {
		t.Fatalf("helm lint --strict: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = helm("lint", "--strict", chart, "-f", lintValues, "--set", "console.portal.enabled=false")
	if err != nil {
		t.Fatalf("helm lint --strict, without the customer page: %v\n%s%s", err, out, stderr)
	}
}

// The chart stops at once, naming what is missing, rather than deploying
// processes that would stop at start.
func TestRequiredValues(t *testing.T) {
	t.Parallel()
	_, stderr, err := helm("template", "vpnbill", chart)
	if err == nil {
		t.Fatal("helm template with the default values succeeded; want it to name the required values")
	}
	for _, want := range []string{"config.mailFrom", "plans.content or plans.existingConfigMap", "config.purevpn.apiURL or config.vpnki.apiURL"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error %q does not name %s", stderr, want)
		}
	}
	_, stderr, err = helm("template", "vpnbill", chart, "-f", lintValues, "--set", "config.extraEnv.SMTP_URL=smtp://u:p@mail")
	if err == nil || !strings.Contains(stderr, "config.extraEnv.SMTP_URL: secrets go in the Secret") {
		t.Errorf("a secret in config.extraEnv: err %v, %s; want it refused", err, stderr)
	}
	_, stderr, err = helm("template", "vpnbill", chart, "-f", lintValues, "--set", "webhook.checkout.cancelURL=")
	if err == nil || !strings.Contains(stderr, "webhook.checkout.successURL and webhook.checkout.cancelURL") {
		t.Errorf("one checkout URL of two: err %v, %s; want it refused", err, stderr)
	}
	_, stderr, err = helm("template", "vpnbill", chart, "-f", lintValues, "--set", "secrets.create=true")
	if err == nil || !strings.Contains(stderr, "secrets.values.stripe-webhook-secret is empty") {
		t.Errorf("secrets.create with no values: err %v, %s; want it refused", err, stderr)
	}
}

// valueSets are the renderings every rule below holds for.
var valueSets = map[string][]string{
	"CI values (console on, every option on)": nil,
	"one provider, console off, no monitoring": {
		"--set", "console.enabled=false", "--set", "console.portal.enabled=false", "--set", "config.purevpn.apiURL=", "--set", "config.purevpn.apiUser=",
		"--set", "config.stripeAPIKey=false", "--set", "prometheusRule.enabled=false",
		"--set", "metrics.podMonitor.enabled=false", "--set", "webhook.ingress.enabled=false",
		"--set", "networkPolicy.egress.enabled=false",
	},
	"chart-made Secret": {"--set-string", "secrets.create=true",
		"--set", "secrets.values.stripe-webhook-secret=whsec_a", "--set", "secrets.values.smtp-url=smtp://a",
		"--set", "secrets.values.credentials-key=k", "--set", "secrets.values.purevpn-api-password=p",
		"--set", "secrets.values.vpnki-api-key=v", "--set", "secrets.values.stripe-api-key=rk_test_a",
		"--set", "secrets.values.portal-key=pk"},
}

func TestEveryContainerNonRootWithReadOnlyRoot(t *testing.T) {
	t.Parallel()
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := render(t, args...)
			if len(m.deployments) < 2 {
				t.Fatalf("%d Deployments, want at least the webhook's and the worker's", len(m.deployments))
			}
			for _, d := range m.deployments {
				pod := d.Spec.Template.Spec
				psc := pod.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
					t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", d.Name, psc)
				}
				if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
					t.Errorf("%s: mounts a service account token; vpnbill never calls the Kubernetes API", d.Name)
				}
				for _, c := range append(pod.InitContainers, pod.Containers...) {
					sc := c.SecurityContext
					switch {
					case sc == nil:
						t.Errorf("%s/%s: no securityContext", d.Name, c.Name)
					case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
						t.Errorf("%s/%s: root filesystem not read-only", d.Name, c.Name)
					case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
						t.Errorf("%s/%s: privilege escalation allowed", d.Name, c.Name)
					case sc.RunAsUser != nil && *sc.RunAsUser == 0, sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
						t.Errorf("%s/%s: runs as root", d.Name, c.Name)
					case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
						t.Errorf("%s/%s: capabilities %+v, want all dropped", d.Name, c.Name, sc.Capabilities)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s/%s: resources %+v: want CPU and memory requests and a memory limit", d.Name, c.Name, c.Resources)
					}
				}
			}
		})
	}
}

// secretVars are the variables internal/envconfig reads from NAME_FILE.
func secretVars(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "envconfig", "envconfig.go"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)var secretVars = \[\]string\{(.*?)\n\}`).FindSubmatch(src)
	if block == nil {
		t.Fatal("secretVars not found in internal/envconfig/envconfig.go")
	}
	var vars []string
	for _, m := range regexp.MustCompile(`"([A-Z_]+)"`).FindAllSubmatch(block[1], -1) {
		vars = append(vars, string(m[1]))
	}
	slices.Sort(vars)
	return vars
}

func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// No secret value reaches a ConfigMap or an environment variable, even when
// the chart makes the Secret from values; each process gets exactly the
// secrets it reads, as files, under the names internal/envconfig reads.
func TestSecretsOnlyInTheSecret(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"stripe-webhook-secret": randomSecret(t, "whsec_"), "smtp-url": randomSecret(t, "smtp://user:"),
		"credentials-key": randomSecret(t, "key"), "purevpn-api-password": randomSecret(t, "pw"),
		"vpnki-api-key": randomSecret(t, "vk"), "stripe-api-key": randomSecret(t, "rk_live_"),
		"portal-key": randomSecret(t, "pk"),
	}
	args := []string{"--set", "secrets.create=true"}
	for k, v := range values {
		args = append(args, "--set-string", "secrets.values."+k+"="+v)
	}
	m := render(t, args...)

	if len(m.secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(m.secrets))
	}
	for k, v := range values {
		if m.secrets[0].StringData[k] != v {
			t.Errorf("the Secret's %s is %q, want the value given", k, m.secrets[0].StringData[k])
		}
		if n := strings.Count(m.raw, v); n != 1 {
			t.Errorf("the value of %s appears %d times in the manifests, want once (in the Secret)", k, n)
		}
		for _, c := range m.configMaps {
			for key, data := range c.Data {
				if strings.Contains(data, v) {
					t.Errorf("ConfigMap %s, key %s, holds the value of secret %s", c.Name, key, k)
				}
			}
		}
	}

	vars := secretVars(t)
	// The webhook's and the worker's secrets, and the customer page's key
	// (the CI values turn it on; the console's own keys are its own).
	want := []string{"CREDENTIALS_KEY", "PORTAL_KEY", "PUREVPN_API_PASSWORD", "SMTP_URL", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "VPNKI_API_KEY"}
	var fileVars []string
	for _, d := range m.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if slices.Contains(vars, e.Name) {
				t.Errorf("%s: %s is an environment variable; secrets are files (%s_FILE)", d.Name, e.Name, e.Name)
			}
			name, ok := strings.CutSuffix(e.Name, "_FILE")
			if !ok {
				continue
			}
			if !slices.Contains(vars, name) {
				t.Errorf("%s: %s, but internal/envconfig reads no %s from a file", d.Name, e.Name, name)
			}
			if !mountsFile(d.Spec.Template.Spec, c, e.Value) {
				t.Errorf("%s: %s=%s, a file no Secret volume mounts", d.Name, e.Name, e.Value)
			}
			fileVars = append(fileVars, name)
		}
	}
	slices.Sort(fileVars)
	if fileVars = slices.Compact(fileVars); !reflect.DeepEqual(fileVars, want) {
		t.Errorf("the Deployments read %v from files; want %v", fileVars, want)
	}
	// With checkout links (the CI values), the webhook reads the Stripe API key too.
	if got := secretFiles(m.deployment(t, "webhook")); !reflect.DeepEqual(got, []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY"}) {
		t.Errorf("the webhook reads %v; want STRIPE_WEBHOOK_SECRET and STRIPE_API_KEY", got)
	}
	noCheckout := render(t, "--set", "webhook.checkout.successURL=", "--set", "webhook.checkout.cancelURL=")
	if got := secretFiles(noCheckout.deployment(t, "webhook")); !reflect.DeepEqual(got, []string{"STRIPE_WEBHOOK_SECRET"}) {
		t.Errorf("without checkout links the webhook reads %v; want only STRIPE_WEBHOOK_SECRET", got)
	}
	for _, c := range m.configMaps {
		for key := range c.Data {
			if slices.Contains(vars, strings.TrimSuffix(key, "_FILE")) {
				t.Errorf("ConfigMap %s sets %s", c.Name, key)
			}
		}
	}
}

func secretFiles(d appsv1.Deployment) []string {
	var names []string
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if n, ok := strings.CutSuffix(e.Name, "_FILE"); ok {
			names = append(names, n)
		}
	}
	return names
}

// mountsFile tells whether path is an item of a Secret volume mounted in c.
func mountsFile(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if filepath.Join(vm.MountPath, item.Path) == path {
					return true
				}
			}
		}
	}
	return false
}

// Without the customer page, the webhook is the only thing reachable from
// outside: one Service, one Ingress routing /stripe/webhook alone to it.
func TestOnlyTheWebhookIsExposed(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "console.portal.enabled=false") // console on
	if got := components(m); !reflect.DeepEqual(got, []string{"console", "webhook", "worker"}) {
		t.Fatalf("Deployments %v, want console, webhook, worker", got)
	}
	if len(m.services) != 1 {
		t.Fatalf("%d Services, want the webhook's alone", len(m.services))
	}
	svc := m.services[0]
	if svc.Spec.Selector["app.kubernetes.io/component"] != "webhook" || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s selects %v (type %s); want the webhook's pods, ClusterIP", svc.Name, svc.Spec.Selector, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v; want the webhook's http port alone (not metrics)", svc.Spec.Ports)
	}
	if len(m.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(m.ingresses))
	}
	// The CI values turn the checkout links on: /buy/ is routed as well.
	routed := map[string]networkingv1.PathType{}
	for _, rule := range m.ingresses[0].Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if p.PathType == nil || p.Backend.Service.Name != svc.Name {
				t.Errorf("Ingress path %s to %s; want the webhook's Service %s, with a path type", p.Path, p.Backend.Service.Name, svc.Name)
				continue
			}
			routed[p.Path] = *p.PathType
		}
	}
	if want := map[string]networkingv1.PathType{"/stripe/webhook": networkingv1.PathTypeExact, "/buy/": networkingv1.PathTypePrefix}; !reflect.DeepEqual(routed, want) {
		t.Errorf("Ingress routes %v; want exactly %v", routed, want)
	}
	plain := render(t, "--set", "console.portal.enabled=false", "--set", "webhook.checkout.successURL=", "--set", "webhook.checkout.cancelURL=")
	for _, rule := range plain.ingresses[0].Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if p.Path != "/stripe/webhook" {
				t.Errorf("without checkout links the Ingress routes %s; want /stripe/webhook alone", p.Path)
			}
		}
	}
	webhook := m.deployment(t, "webhook")
	if !slices.ContainsFunc(webhook.Spec.Template.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" }) {
		t.Error("the webhook has no port named http for the Service")
	}

	// Every pod is covered by a NetworkPolicy and a PodDisruptionBudget; only
	// the webhook's public port admits traffic without a listed source.
	for _, d := range m.deployments {
		comp := d.Spec.Template.Labels["app.kubernetes.io/component"]
		var np *networkingv1.NetworkPolicy
		for i := range m.networkPolicies {
			if selects(m.networkPolicies[i].Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
				np = &m.networkPolicies[i]
			}
		}
		if np == nil {
			t.Errorf("no NetworkPolicy selects the %s pods", comp)
			continue
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) > 0 {
				continue
			}
			for _, p := range rule.Ports {
				if comp != "webhook" || p.Port.String() != "http" {
					t.Errorf("NetworkPolicy %s admits anyone to %s port %s", np.Name, comp, p.Port)
				}
			}
		}
		if !slices.ContainsFunc(m.budgets, func(b policyv1.PodDisruptionBudget) bool {
			return selects(b.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}) {
			t.Errorf("no PodDisruptionBudget selects the %s pods", comp)
		}
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestConsoleDisabledByDefault(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "console.enabled=null", "--set", "console.portal.enabled=null")
	if got := components(m); !reflect.DeepEqual(got, []string{"webhook", "worker"}) {
		t.Errorf("Deployments %v with console.enabled at its default; want webhook and worker", got)
	}
}

// The console runs vpnbillctl's operations with its variables: it refuses
// to start with a provider's URL (the shared ConfigMap's) and not its
// secret, and resend reads the plans file PLANS_FILE names; egress lets it
// reach the providers and SMTP.
func TestConsoleHasWhatItStartsWith(t *testing.T) {
	t.Parallel()
	m := render(t, "--set", "console.portal.enabled=false", "--set", "console.secretKeys={console-users,console-session-key,purevpn-api-password}")
	console := m.deployment(t, "console")
	if got, want := secretFiles(console), []string{"CONSOLE_USERS", "CONSOLE_SESSION_KEY", "PUREVPN_API_PASSWORD", "VPNKI_API_KEY"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the console reads %v from files; want %v (its own, then each configured provider's, once)", got, want)
	}
	plansFile := m.configMaps[slices.IndexFunc(m.configMaps, func(c corev1.ConfigMap) bool { return c.Data["PLANS_FILE"] != "" })].Data["PLANS_FILE"]
	for _, comp := range []string{"console", "worker"} {
		if !mountsPlans(m, m.deployment(t, comp), plansFile) {
			t.Errorf("%s: PLANS_FILE=%s is not the plans ConfigMap's plans.yaml", comp, plansFile)
		}
	}
	np := m.networkPolicies[slices.IndexFunc(m.networkPolicies, func(n networkingv1.NetworkPolicy) bool {
		return n.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "console"
	})]
	if !slices.ContainsFunc(np.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
		return slices.ContainsFunc(r.To, func(p networkingv1.NetworkPolicyPeer) bool { return p.IPBlock != nil })
	}) {
		t.Errorf("NetworkPolicy %s: no egress beyond the cluster (providers, SMTP)", np.Name)
	}
	// Only the configured providers' keys.
	bare := render(t, "--set", "console.portal.enabled=false", "--set", "config.purevpn.apiURL=", "--set", "config.purevpn.apiUser=", "--set", "config.vpnki.apiURL=https://vpnki.example/x")
	if got := secretFiles(bare.deployment(t, "console")); !reflect.DeepEqual(got, []string{"VPNKI_API_KEY"}) {
		t.Errorf("with VPNKI alone the console reads %v; want VPNKI_API_KEY", got)
	}
}

// mountsPlans tells whether path is the plans ConfigMap's plans.yaml as d's container mounts it.
func mountsPlans(m manifests, d appsv1.Deployment, path string) bool {
	pod := d.Spec.Template.Spec
	for _, vm := range pod.Containers[0].VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil || !strings.HasSuffix(v.ConfigMap.Name, "-plans") {
				continue
			}
			for _, item := range v.ConfigMap.Items {
				if item.Key == "plans.yaml" && filepath.Join(vm.MountPath, item.Path) == path {
					return true
				}
			}
		}
	}
	return false
}

// The probes ask the ports the processes are told to listen on: the
// webhook's /healthz and /readyz on its public port (WEBHOOK_ADDR), the
// worker's on METRICS_ADDR, the console's on ADMIN_ADDR.
func TestProbes(t *testing.T) {
	t.Parallel()
	m := render(t)
	for comp, addrVar := range map[string]string{"webhook": "WEBHOOK_ADDR", "worker": "METRICS_ADDR", "console": "ADMIN_ADDR"} {
		c := m.deployment(t, comp).Spec.Template.Spec.Containers[0]
		var addr string
		for _, e := range c.Env {
			if e.Name == addrVar {
				addr = e.Value
			}
		}
		for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP probe %s", comp, probe)
				continue
			}
			if p.HTTPGet.Path != probe {
				t.Errorf("%s: probe on %s, want %s", comp, p.HTTPGet.Path, probe)
			}
			var port int32
			for _, cp := range c.Ports {
				if cp.Name == p.HTTPGet.Port.String() {
					port = cp.ContainerPort
				}
			}
			if want := fmt.Sprintf(":%d", port); port == 0 || addr != want {
				t.Errorf("%s: probe %s on port %s (%d); %s=%q", comp, probe, p.HTTPGet.Port.String(), port, addrVar, addr)
			}
		}
	}
}

// The PrometheusRule holds deploy/prometheus/alerts.yml as it is: the chart
// reads it through a symbolic link, so there is one source.
func TestPrometheusRuleIsAlertsYml(t *testing.T) {
	t.Parallel()
	m := render(t)
	rules := m.custom["PrometheusRule"]
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	src, err := os.ReadFile(filepath.Join("..", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(src, &want); err != nil {
		t.Fatal(err)
	}
	if got := rules[0]["spec"]; !reflect.DeepEqual(got, want) {
		gb, _ := yaml.Marshal(got)
		t.Errorf("PrometheusRule spec differs from deploy/prometheus/alerts.yml:\n%s", gb)
	}
	if link, err := os.Readlink(filepath.Join(chart, "files", "alerts.yml")); err != nil || link != "../../../prometheus/alerts.yml" {
		t.Errorf("files/alerts.yml: %q, %v; want a symbolic link to ../../../prometheus/alerts.yml", link, err)
	}
	if off := render(t, "--set", "prometheusRule.enabled=false"); len(off.custom["PrometheusRule"]) != 0 {
		t.Error("a PrometheusRule with prometheusRule.enabled=false")
	}
}

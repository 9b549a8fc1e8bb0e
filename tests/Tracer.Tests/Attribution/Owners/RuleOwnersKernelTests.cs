using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tracer.Tests.Daemon;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// The owner of a rule that really drops, on the real kernel: kube-proxy's rules for a Service with no endpoints
/// (iptables mode loaded with iptables-nft-restore, nftables mode with nft -f) and Calico's workload and policy chains
/// (felix's iptables chains, and its nftables table calico loaded with nft -f), written in the node namespace of a
/// Calico-style network as those components write them; a pod's traffic is dropped
/// there, and <c>tracer trace --output json</c> must name the Service or policy. With the API (the daemon, its API a
/// FAKE server: none can run here), the owners are checked against the Service, its EndpointSlices and the policy.
/// </summary>
[KernelTest]
public sealed class RuleOwnersKernelTests : IDisposable
{
    private const int Packets = 20;
    private const int ServicePort = 8080;
    private const int ProbePort = 8885;
    private readonly CalicoNetwork _network = new();
    private readonly Pod _client;
    private readonly IPAddress _service;

    public RuleOwnersKernelTests()
    {
        _client = _network.AddPod();
        // A ClusterIP of this network's own, routed out of the node as a Service range is.
        var ownOctet = _client.IPv4.GetAddressBytes()[2];
        _service = IPAddress.Parse($"10.97.{ownOctet}.10");
        _network.Ip("route", "add", $"10.97.{ownOctet}.0/24", "dev", "eth0");
    }

    public void Dispose() => _network.Dispose();

    [Fact]
    public void KubeProxysIptablesRejectForAServiceWithNoEndpointsNamesTheService()
    {
        Restore($"""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :KUBE-SERVICES - [0:0]
            -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A KUBE-SERVICES -d {_service}/32 -p udp -m comment --comment "shop/web:http has no endpoints" -m udp --dport {ServicePort} -j REJECT --reject-with icmp-port-unreachable
            COMMIT

            """, "iptables-nft-restore");

        var owners = ServiceDrops();

        Assert.All(owners, owner =>
        {
            Assert.Equal("service", owner.Str("kind"));
            Assert.Equal("shop/web:http", owner.Str("name"));
            Assert.Equal("shop", owner.Str("namespace"));
            Assert.Equal("exact", owner.Str("confidence"));
            Assert.Contains("has no ready endpoints", owner.Str("summary"));
            Assert.Contains(owner.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("comment \"shop/web:http has no endpoints\"", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void KubeProxysNftablesRejectForAServiceWithNoEndpointsNamesTheServiceFromItsMapElement()
    {
        _network.Nft($$"""
            add table ip kube-proxy { comment "rules for kube-proxy" ; }
            add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
            add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
            add chain ip kube-proxy service-endpoints-check
            add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
            add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
            add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
            add rule ip kube-proxy reject-chain reject
            add element ip kube-proxy no-endpoint-services { {{_service}} . udp . {{ServicePort}} comment "shop/web:http" : goto reject-chain }
            """);

        var owners = ServiceDrops();

        Assert.All(owners, owner =>
        {
            Assert.Equal("service", owner.Str("kind"));
            Assert.Equal("shop/web:http", owner.Str("name"));
            Assert.Equal("exact", owner.Str("confidence"));
            Assert.Equal("Service shop/web:http has no ready endpoints", owner.Str("summary"));
            Assert.Contains(owner.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("map ip kube-proxy no-endpoint-services", StringComparison.Ordinal));
        });
    }

    [Theory]
    // The policy's own deny rule: the hashed chain's first-rule comment names it.
    [InlineData("-p udp -m udp --dport 8885 -j DROP", "Policy shop/knp.default.deny-probes ingress", "shop/deny-probes", "exact", "deny rule")]
    // The policy allows something else: the endpoint chain's final drop, and the one policy that applies there.
    [InlineData("-p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000", "Policy shop/knp.default.allow-web ingress", "shop/allow-web", "inferred", "no Calico policy allowed traffic to workload interface")]
    public void CalicosChainsNameTheKubernetesNetworkPolicy(string policyRule, string policyComment, string policy, string confidence, string summary)
    {
        var server = _network.AddPod();
        Restore($"""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            {CalicoPolicyChains(server, "FORWARD", policyRule, policyComment)}
            COMMIT

            """, "iptables-nft-restore");
        bool Flow(JsonElement l) => l.Str("dst") == server.IPv4.ToString() && l.Num("dport") == ProbePort;

        var owners = Owners(() => CalicoNetwork.SendUdp(_client.Namespace, server.IPv4, ProbePort, Packets), Flow);

        Assert.All(owners, owner =>
        {
            Assert.Equal("network-policy", owner.Str("kind"));
            Assert.Equal(policy, owner.Str("name"));
            Assert.Equal("shop", owner.Str("namespace"));
            Assert.Equal(confidence, owner.Str("confidence"));
            Assert.Contains(summary, owner.Str("summary"));
        });
    }

    [Theory]
    // The policy's own deny rule: its chain's first-rule comment names it.
    [InlineData("udp dport 8885 counter drop", "deny-probes", "exact", "dropped by a deny rule of Kubernetes NetworkPolicy shop/deny-probes")]
    // The policy allows something else: the endpoint chain's end-of-tier drop, and the one policy that applies there.
    [InlineData("tcp dport 80 counter meta mark set mark | 0x10000", "allow-web", "inferred", "no Calico policy allowed traffic to workload interface")]
    public void CalicosNftablesChainsNameTheKubernetesNetworkPolicy(string policyRule, string policy, string confidence, string summary)
    {
        var server = _network.AddPod();
        Restore(CalicoNftTable(server, policyRule, policy), "nft", "-f");
        bool Flow(JsonElement l) => l.Str("dst") == server.IPv4.ToString() && l.Num("dport") == ProbePort;

        var owners = Owners(() => CalicoNetwork.SendUdp(_client.Namespace, server.IPv4, ProbePort, Packets), Flow);

        Assert.All(owners, owner =>
        {
            Assert.Equal("network-policy", owner.Str("kind"));
            Assert.Equal($"shop/{policy}", owner.Str("name"));
            Assert.Equal("shop", owner.Str("namespace"));
            Assert.Equal(confidence, owner.Str("confidence"));
            Assert.StartsWith(summary, owner.Str("summary"));
            Assert.Contains(owner.GetProperty("evidence").EnumerateArray(),
                            e => e.GetString() == $"comment \"cali:Pwbm7Q6DGLjBbAsi; KubernetesNetworkPolicy shop/{policy} ingress\" on the first rule of chain ip calico filter-cali-pi-knp/shop/{policy}");
        });
    }

    [Fact]
    public async Task WithTheApiTheServiceAndThePolicyAreCheckedAgainstIt()
    {
        var server = _network.AddPod();
        // kube-proxy's reject for a Service with no endpoints, and felix's chains for a Kubernetes NetworkPolicy's deny rule.
        Restore($"""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :KUBE-SERVICES - [0:0]
            -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A KUBE-SERVICES -d {_service}/32 -p udp -m comment --comment "shop/web:http has no endpoints" -m udp --dport {ServicePort} -j REJECT --reject-with icmp-port-unreachable
            {CalicoPolicyChains(server, "FORWARD", $"-p udp -m udp --dport {ProbePort} -j DROP", "Policy shop/knp.default.deny-probes ingress")}
            COMMIT

            """, "iptables-nft-restore");
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        var dir = Directory.CreateTempSubdirectory("tracer-owner-");
        await using var api = await FakeKubernetesApi.StartIn(nodePath);
        try
        {
            api.Add(FakeKubernetesApi.Pod("shop", "client-0", "node-1", [_client.IPv4]));
            api.Add(FakeKubernetesApi.Pod("shop", "web-0", "node-1", [server.IPv4], labels: new() { ["app"] = "web" }));
            api.AddService("shop", "web");
            api.AddEndpointSlice("shop", "web", "node-1", ready: false); // its one endpoint not ready: kube-proxy's rules are right
            api.AddNetworkPolicy("shop", "deny-probes", new JsonObject
            {
                ["matchLabels"] = new JsonObject { ["app"] = "web" },
                ["matchExpressions"] = new JsonArray(new JsonObject { ["key"] = "tier", ["operator"] = "NotIn", ["values"] = new JsonArray("batch", "admin") }),
            });
            bool ToService(JsonElement l) => l.Str("dst") == _service.ToString() && l.Num("dport") == ServicePort;
            bool ToServer(JsonElement l) => l.Str("dst") == server.IPv4.ToString() && l.Num("dport") == ProbePort;
            static bool Checked(JsonElement line) =>
                line.Culprit().TryGetProperty("owner", out var owner) && owner.GetProperty("evidence").EnumerateArray().Any(e => e.GetString()!.Contains("in the API", StringComparison.Ordinal));

            using var daemon = TestDaemon.Start(_network.NodeNamespace, api, dir, "none", NamespaceSockets.FreePortIn(nodePath));
            using var session = SessionClient.Start(TestDaemon.Socket(dir), "start", "--pod", "shop/client-0", "--output", "json");
            Poll.Until(() => session.Stderr.Contains("in detail", StringComparison.Ordinal), TimeSpan.FromSeconds(15), () => session.Stderr);
            // The first drops go out as the rules named them while the API is asked; later ones carry its answer.
            Poll.Until(() =>
            {
                CalicoNetwork.SendUdp(_client.Namespace, _service, ServicePort, 2);
                CalicoNetwork.SendUdp(_client.Namespace, server.IPv4, ProbePort, 2);
                return session.Records().Where(ToService).Any(Checked) && session.Records().Where(ToServer).Any(Checked);
            }, TimeSpan.FromSeconds(30), () => session.Stderr + string.Join("\n", api.Requests));
            Assert.Equal(0, daemon.Stop("TERM"));

            var service = session.Records().Where(ToService).Where(Checked).Select(l => l.Culprit().GetProperty("owner")).First();
            Assert.Equal("shop/web:http", service.Str("name"));
            Assert.Equal("Service shop/web:http has no ready endpoints", service.Str("summary")); // the rules' reading, unchanged
            var evidence = service.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("Service shop/web exists in the API (core/v1)", evidence);
            Assert.Contains("its EndpointSlices (kubernetes.io/service-name=web) hold 0 ready endpoints of 1: this confirms the rules", evidence);
            Assert.False(service.TryGetProperty("pod_selector", out _));

            var policy = session.Records().Where(ToServer).Where(Checked).Select(l => l.Culprit().GetProperty("owner")).First();
            Assert.Equal("network-policy", policy.Str("kind"));
            Assert.Equal("shop/deny-probes", policy.Str("name"));
            Assert.Equal("app=web,tier notin (admin,batch)", policy.Str("pod_selector"));
            Assert.Contains(policy.GetProperty("evidence").EnumerateArray(),
                            e => e.GetString() == "NetworkPolicy shop/deny-probes exists in the API (networking.k8s.io/v1): podSelector app=web,tier notin (admin,batch)");

            // Each object was looked up once however many drops named it (the answers are kept a minute).
            Assert.Single(api.Requests, r => r == "get /api/v1/namespaces/shop/services/web");
            Assert.Single(api.Requests, r => r == "list endpointslices shop kubernetes.io/service-name=web");
            Assert.Single(api.Requests, r => r == "get /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny-probes");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task DiagnoseChecksThePolicyThatDropsTheProbesAgainstTheApi()
    {
        var server = _network.AddPod();
        // The node's own probes leave through OUTPUT: felix sends them through the workload's chain there too.
        Restore($"""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            {CalicoPolicyChains(server, "OUTPUT", $"-p tcp -m tcp --dport {ProbePort} -j DROP", "Policy shop/knp.default.deny-probes ingress")}
            COMMIT

            """, "iptables-nft-restore");
        var nodePath = $"/run/netns/{_network.NodeNamespace}";
        var dir = Directory.CreateTempSubdirectory("tracer-owner-");
        await using var api = await FakeKubernetesApi.StartIn(nodePath);
        try
        {
            api.Add(FakeKubernetesApi.Pod("shop", "web-0", "node-1", [server.IPv4], labels: new() { ["app"] = "web" }));
            api.AddNetworkPolicy("shop", "deny-probes", new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "web" } });

            var result = Shell.Run("ip", ["netns", "exec", _network.NodeNamespace, "env", $"KUBECONFIG={api.WriteKubeconfig(dir.FullName)}", "NODE_NAME=node-1",
                                          RepositoryPaths.TracerExecutable, "diagnose", "--output", "json", "--duration", "2s",
                                          "--pod", "shop/web-0", "--port", ProbePort.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(result.Stdout.Length > 0, result.Stderr);
            using var report = JsonDocument.Parse(result.Stdout);

            var owner = report.RootElement.GetProperty("verdict").GetProperty("culprit").GetProperty("owner");
            Assert.Equal("network-policy", owner.Str("kind"));
            Assert.Equal("shop/deny-probes", owner.Str("name"));
            Assert.Equal("app=web", owner.Str("pod_selector"));
            Assert.Contains(owner.GetProperty("evidence").EnumerateArray(),
                            e => e.GetString() == "NetworkPolicy shop/deny-probes exists in the API (networking.k8s.io/v1): podSelector app=web");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Felix's chains for the workload <paramref name="server"/>, jumped to from <paramref name="from"/>: its endpoint chain
    /// (tier mark, the policy, its final drop) and one policy chain with a hashed name whose one rule carries <paramref name="policyComment"/>.
    /// </summary>
    private static string CalicoPolicyChains(Pod server, string from, string policyRule, string policyComment)
    {
        var endpoint = $"cali-tw-{server.HostInterface}";
        const string PolicyChain = "cali-pi-_4yn_o8fHHkyVWuCz5kJ";
        return $"""
            :{endpoint} - [0:0]
            :{PolicyChain} - [0:0]
            -A {from} -o {server.HostInterface} -m comment --comment "cali:XWC7ccUA7hX7ciPR" -j {endpoint}
            -A {endpoint} -m comment --comment "cali:Jn8hW0JtJyTLbcNV" -j MARK --set-xmark 0x0/0x30000
            -A {endpoint} -m comment --comment "cali:RmB-JS69ad-N5lEO" -m comment --comment "Start of tier default" -j MARK --set-xmark 0x0/0x20000
            -A {endpoint} -m comment --comment "cali:SzDJvAeQNj9Q2o4-" -m mark --mark 0x0/0x20000 -j {PolicyChain}
            -A {endpoint} -m comment --comment "cali:VcWoB5VfnGgEHPuR" -m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN
            -A {endpoint} -m comment --comment "cali:tWvdlCb3ZafsLQDk" -m comment --comment "Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP
            -A {PolicyChain} -m comment --comment "cali:Pwbm7Q6DGLjBbAsi" -m comment --comment "{policyComment}" {policyRule}
            """;
    }

    /// <summary>
    /// felix's nftables table for the workload <paramref name="server"/> (felix/nftables/table.go, table_layer.go;
    /// felix/rules/static.go, dispatch.go, endpoints.go, policy.go): the base chain filter-FORWARD, the dispatch map
    /// sending the server's interface to its endpoint chain (tier mark, the policy, return if accepted, end-of-tier
    /// drop), and the Kubernetes NetworkPolicy <paramref name="policy"/>'s chain, whose first rule
    /// (<paramref name="policyRule"/>) carries the policy's comment after the rule hash.
    /// </summary>
    private static string CalicoNftTable(Pod server, string policyRule, string policy)
    {
        var endpoint = $"filter-cali-tw-{server.HostInterface}";
        var policyChain = $"filter-cali-pi-knp/shop/{policy}";
        return $$"""
            table ip calico {
                map filter-cali-to-wl-dispatch {
                    type ifname : verdict
                    elements = { "{{server.HostInterface}}" : goto {{endpoint}} }
                }
                chain filter-FORWARD {
                    type filter hook forward priority filter; policy accept;
                    counter jump filter-cali-FORWARD comment "cali:wUHhoiAYhphO9Mso;"
                }
                chain filter-cali-FORWARD {
                    counter meta mark set mark & 0xfff1ffff comment "cali:vjrMJCRpqwy5oRoX;"
                    counter jump filter-cali-to-wl-dispatch comment "cali:8ZoYfO5HKXWbB3pk;"
                }
                chain filter-cali-to-wl-dispatch {
                    oifname vmap @filter-cali-to-wl-dispatch
                    counter drop comment "cali:sVDSvGpDBeRfZ1ra; Unknown interface"
                }
                chain {{endpoint}} {
                    ct state established,related counter accept comment "cali:aDbT2WOesYHSBMVK;"
                    ct state invalid counter drop comment "cali:2y5ZkTx5Cj0VpIRK;"
                    counter meta mark set mark & 0xfffcffff comment "cali:Jn8hW0JtJyTLbcNV;"
                    counter meta mark set mark & 0xfffdffff comment "cali:RmB-JS69ad-N5lEO; Start of tier default"
                    meta mark & 0x20000 == 0 counter jump {{policyChain}} comment "cali:SzDJvAeQNj9Q2o4-;"
                    meta mark & 0x10000 == 0x10000 counter return comment "cali:VcWoB5VfnGgEHPuR; Return if policy accepted"
                    meta mark & 0x20000 == 0 counter drop comment "cali:tWvdlCb3ZafsLQDk; End of tier default. Drop if no policies passed packet"
                }
                chain {{policyChain}} {
                    {{policyRule}} comment "cali:Pwbm7Q6DGLjBbAsi; KubernetesNetworkPolicy shop/{{policy}} ingress"
                    meta mark & 0x10000 == 0x10000 counter return comment "cali:x7oLB3dU5jmlKAM0;"
                }
            }

            """;
    }

    /// <summary>The owners of the client's drops to the Service's address and port.</summary>
    private List<JsonElement> ServiceDrops() => Owners(
        () => CalicoNetwork.SendUdp(_client.Namespace, _service, ServicePort, Packets),
        l => l.Str("dst") == _service.ToString() && l.Num("dport") == ServicePort);

    /// <summary>Traces around <paramref name="traffic"/> with every observer armed; the owner of each line of <paramref name="flow"/>, which must count every packet.</summary>
    private List<JsonElement> Owners(Action traffic, Func<JsonElement, bool> flow)
    {
        var drops = TraceRun.Lines(_network.NodeNamespace, traffic, flow, Packets, "--arm", "always").Where(flow).ToList();
        Assert.Equal(Packets, drops.Sum(l => l.Num("count")));
        return [.. drops.Select(l => l.Culprit().TryGetProperty("owner", out var owner)
            ? owner
            : throw new Xunit.Sdk.XunitException($"a drop without an owner: {l}"))];
    }

    /// <summary>Loads rules from a file into the node namespace with <paramref name="tool"/> (iptables-nft-restore, nft -f), as kube-proxy and felix do.</summary>
    private void Restore(string rules, params string[] tool)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, rules);
            Shell.Check("ip", ["netns", "exec", _network.NodeNamespace, .. tool, file]);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

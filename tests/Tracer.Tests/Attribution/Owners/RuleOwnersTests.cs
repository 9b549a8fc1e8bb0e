using System.Net;
using Tracer.Attribution;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// Rules as kube-proxy and Calico really write them — the rule texts, chain names, comments and map elements are copied
/// from kube-proxy's proxier tests (pkg/proxy/iptables, pkg/proxy/nftables) and felix's rule renderers (felix/rules;
/// felix/nftables for its nftables dataplane) — and shapes that only look like theirs, which must not be claimed. The
/// node's listings are given here as nft and iptables print them.
/// </summary>
[UnitTest]
public sealed class RuleOwnersTests
{
    private const uint Netns = 4026532000;

    private static DropFlow Flow(string destination, ushort port, IpProto protocol = IpProto.IPPROTO_TCP) => new(
        Netns, 0, IPAddress.Parse("10.0.0.2"), IPAddress.Parse(destination), (ushort)EtherType.ETH_P_IP, (byte)protocol, 40000, port, 12, 0);

    private static Culprit Rule(string family, string table, string chain, ulong? handle, string? rule = null, int? number = null) => new()
    {
        Kind = table is "filter" or "nat" or "mangle" or "raw" ? CulpritKind.IptablesRule : CulpritKind.NftablesRule,
        Summary = "dropped", Confidence = CulpritConfidence.Exact, Family = family, Table = table, Chain = chain,
        Handle = handle, Rule = rule, RuleNumber = number,
    };

    /// <summary>The node's answers: nft listings by command, iptables -S rules by chain.</summary>
    private static NodeAnswers Node(Dictionary<string, string>? nft = null, Dictionary<string, string[]>? iptables = null) => new NodeQueries
    {
        NftablesListing = (netns, command) => netns == Netns ? nft?.GetValueOrDefault(command) : null,
        IptablesChainRules = (netns, _, _, chain) => netns == Netns && iptables?.GetValueOrDefault(chain) is { } rules ? rules : null,
    }.ForInterval();

    /// <summary>An iptables-nft chain as nft lists it (comments gone) and as iptables-nft -S prints it, rule for rule.</summary>
    private static NodeAnswers IptablesNftChain(string chain, params (ulong Handle, string Nft, string Iptables)[] rules) => Node(
        new() { [$"list chain ip filter {chain}"] = $"table ip filter {{\n\tchain {chain} {{ # handle 3\n" +
                                                    string.Concat(rules.Select(r => $"\t\t{r.Nft} # handle {r.Handle}\n")) + "\t}\n}\n" },
        new() { [chain] = [.. rules.Select(r => r.Iptables)] });

    [Fact]
    public void AKubeProxyNoEndpointsRejectNamesTheServiceExactly()
    {
        var node = IptablesNftChain("KUBE-SERVICES",
            (7, "meta l4proto tcp ip daddr 172.30.0.41 tcp dport 80 counter reject",
             "-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O"),
            (8, "meta l4proto tcp ip daddr 172.30.0.46 tcp dport 80 counter reject",
             "-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment \"ns6/svc6:p80 has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"));

        var owner = RuleOwners.Of(Rule("ip", "filter", "KUBE-SERVICES", 8), Flow("172.30.0.46", 80), node);

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.Service, owner.Kind);
        Assert.Equal("ns6/svc6:p80", owner.Name);
        Assert.Equal("ns6", owner.Namespace);
        Assert.Equal("Service ns6/svc6:p80 has no ready endpoints", owner.Summary);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.Contains("comment \"ns6/svc6:p80 has no endpoints\" on rule handle 8 of chain ip filter KUBE-SERVICES", owner.Evidence);
    }

    [Theory]
    [InlineData("KUBE-EXTERNAL-SERVICES", "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns2/svc2:p80 has no local endpoints\" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP",
                "ns2/svc2:p80", "has no ready endpoints on this node")]
    [InlineData("KUBE-PROXY-FIREWALL", "-A KUBE-PROXY-FIREWALL -m comment --comment \"ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C\" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP",
                "ns5/svc5:p80", "loadBalancerSourceRanges")]
    [InlineData("KUBE-SERVICES", "-A KUBE-SERVICES -m comment --comment \"web/frontend: has no endpoints\" -m tcp -p tcp -d 172.30.0.47 --dport 80 -j REJECT",
                "web/frontend", "Service web/frontend has no ready endpoints")]
    public void KubeProxysCommentsNameTheServiceAndWhatItsRuleDoes(string chain, string rule, string service, string summary)
    {
        var owner = RuleOwners.Of(Rule("ip", "filter", chain, 5), Flow("1.2.3.4", 80), IptablesNftChain(chain, (5, "counter drop", rule)));

        Assert.Equal(OwnerKind.Service, owner?.Kind);
        Assert.Equal(service, owner!.Name);
        Assert.Contains(summary, owner.Summary);
    }

    [Fact]
    public void AnIptablesLegacyRuleCarriesItsOwnText()
    {
        var rule = "-A KUBE-SERVICES -d 10.96.0.60/32 -p tcp -m comment --comment \"shop/web:http has no endpoints\" -m tcp --dport 8080 -j REJECT --reject-with icmp-port-unreachable";

        var owner = RuleOwners.Of(Rule("ipv4", "filter", "KUBE-SERVICES", handle: null, rule, number: 3), Flow("10.96.0.60", 8080), Node());

        Assert.Equal("shop/web:http", owner?.Name);
        Assert.Contains("iptables-legacy rule 3 of chain filter KUBE-SERVICES", owner!.Evidence.Single());
    }

    [Fact]
    public void ARuleWithoutACommentInAServicesHashedChainIsNamedFromItsChainMates()
    {
        var node = IptablesNftChain("KUBE-SVL-GNZBNJ2PO5MGZ6GT",
            (4, "counter packets 0 bytes 0 meta mark set mark or 0x8000", "-A KUBE-SVL-GNZBNJ2PO5MGZ6GT -m comment --comment \"ns2/svc2:p80 has no local endpoints\" -j KUBE-MARK-DROP"),
            (5, "counter drop", "-A KUBE-SVL-GNZBNJ2PO5MGZ6GT -j DROP"));

        var owner = RuleOwners.Of(Rule("ip", "filter", "KUBE-SVL-GNZBNJ2PO5MGZ6GT", 5), Flow("1.2.3.4", 80), node);

        Assert.Equal(OwnerKind.Service, owner?.Kind);
        Assert.Equal("ns2/svc2:p80", owner!.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
        Assert.Contains("node-local", owner.Summary);
    }

    [Fact]
    public void KubeProxysOwnChainsServingNoServiceNameKubeProxy()
    {
        var owner = RuleOwners.Of(Rule("ip", "filter", "KUBE-FORWARD", 9), Flow("10.0.0.9", 80),
                                  IptablesNftChain("KUBE-FORWARD", (9, "ct state invalid counter drop", "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")));

        Assert.Equal(OwnerKind.KubeProxy, owner?.Kind);
        Assert.Equal("kube-proxy", owner!.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
    }

    [Theory]
    // A user's own chain that only starts like kube-proxy's.
    [InlineData("KUBE-MY-FIREWALL", "-A KUBE-MY-FIREWALL -m comment --comment \"shop/web:http has no endpoints\" -j DROP")]
    // Not kube-proxy's hash: lower case, too short.
    [InlineData("KUBE-SVC-abc", "-A KUBE-SVC-abc -m comment --comment \"shop/web:http has no endpoints\" -j DROP")]
    // An upper-case chain that is nobody's.
    [InlineData("BLOCKLIST", "-A BLOCKLIST -m comment --comment \"shop/web:http has no endpoints\" -j DROP")]
    public void ChainsThatAreNotKubeProxysAreNotClaimed(string chain, string rule) =>
        Assert.Null(RuleOwners.Of(Rule("ip", "filter", chain, 5), Flow("1.2.3.4", 80), IptablesNftChain(chain, (5, "counter drop", rule))));

    [Theory]
    [InlineData("Shop/Web:HTTP has no endpoints")] // not DNS labels
    [InlineData("10.0.0.0/8:80 has no endpoints")] // an address, not a namespace
    [InlineData("a/b/c:80 has no endpoints")]
    [InlineData("shop/web has no endpoints")] // no port separator
    public void ACommentThatOnlyLooksLikeAServiceIsNotTakenForOne(string comment)
    {
        var owner = RuleOwners.Of(Rule("ip", "filter", "KUBE-SERVICES", 5), Flow("1.2.3.4", 80),
                                  IptablesNftChain("KUBE-SERVICES", (5, "counter drop", $"-A KUBE-SERVICES -m comment --comment \"{comment}\" -j DROP")));

        Assert.Equal(OwnerKind.KubeProxy, owner?.Kind);
    }

    [Fact]
    public void WithoutTheIptablesListingTheCommentIsUnknownAndNoServiceIsGuessed()
    {
        var owner = RuleOwners.Of(Rule("ip", "filter", "KUBE-SERVICES", 8), Flow("172.30.0.46", 80), Node());

        Assert.Equal(OwnerKind.KubeProxy, owner?.Kind);
    }

    // kube-proxy's nftables mode, as `nft list map` prints the maps its proxier test fills.
    private const string NoEndpointServices = """
        table ip kube-proxy {
        	map no-endpoint-services { # handle 3
        		type ipv4_addr . inet_proto . inet_service : verdict
        		comment "vmap to drop or reject packets to services with no endpoints"
        		elements = { 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop,
        			     172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
        	}
        }
        """;

    private const string NoEndpointNodePorts = """
        table ip kube-proxy {
        	map no-endpoint-nodeports { # handle 4
        		type inet_proto . inet_service : verdict
        		comment "vmap to drop or reject packets to service nodeports with no endpoints"
        		elements = { tcp . 3001 comment "ns2/svc2:p80" : drop }
        	}
        }
        """;

    private static NodeAnswers KubeProxyMaps() => Node(new()
    {
        ["list map ip kube-proxy no-endpoint-services"] = NoEndpointServices,
        ["list map ip kube-proxy no-endpoint-nodeports"] = NoEndpointNodePorts,
    });

    [Fact]
    public void ARejectOfKubeProxysNftablesModeNamesTheServiceByItsMapElement()
    {
        var owner = RuleOwners.Of(Rule("ip", "kube-proxy", "reject-chain", 12, "reject"), Flow("172.30.0.46", 80), KubeProxyMaps());

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.Service, owner.Kind);
        Assert.Equal("ns6/svc6:p80", owner.Name);
        Assert.Equal("Service ns6/svc6:p80 has no ready endpoints", owner.Summary);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.Contains(owner.Evidence, e => e.Contains("172.30.0.46 . tcp . 80", StringComparison.Ordinal) && e.Contains("goto reject-chain", StringComparison.Ordinal));
    }

    [Fact]
    public void ADropByTheNoEndpointMapItselfIsTheLocalTrafficPolicysAndANodePortMatchesWithoutAnAddress()
    {
        var service = RuleOwners.Of(Rule("ip", "kube-proxy", "service-endpoints-check", 20, "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"),
                                    Flow("1.2.3.4", 80), KubeProxyMaps());
        var nodePort = RuleOwners.Of(Rule("ip", "kube-proxy", "nodeport-endpoints-check", 21, "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"),
                                     Flow("192.168.0.2", 3001), KubeProxyMaps());

        Assert.Equal("ns2/svc2:p80", service?.Name);
        Assert.Contains("externalTrafficPolicy: Local", service!.Summary);
        Assert.Equal("ns2/svc2:p80", nodePort?.Name);
    }

    [Theory]
    [InlineData("172.30.0.46", 81, "tcp")] // another port
    [InlineData("172.30.0.46", 80, "udp")] // another protocol
    [InlineData("172.30.0.47", 80, "tcp")] // another address
    public void AFlowNoMapElementMatchesIsKubeProxysNotAGuessedService(string destination, ushort port, string protocol)
    {
        var owner = RuleOwners.Of(Rule("ip", "kube-proxy", "reject-chain", 12, "reject"), Flow(destination, port, protocol == "udp" ? IpProto.IPPROTO_UDP : IpProto.IPPROTO_TCP), KubeProxyMaps());

        Assert.Equal(OwnerKind.KubeProxy, owner?.Kind);
    }

    [Fact]
    public void KubeProxysNftablesChainsNameTheirServiceFromTheChainName()
    {
        var firewall = RuleOwners.Of(Rule("ip", "kube-proxy", "firewall-HVFWP5L3-ns5/svc5/tcp/p80", 6, "ip saddr != { 203.0.113.0/25 } drop"), Flow("5.6.7.8", 80), Node());
        var endpoint = RuleOwners.Of(Rule("ip6", "kube-proxy", "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80", 7, "drop"), Flow("172.30.0.41", 80), Node());

        Assert.Equal("ns5/svc5:p80", firewall?.Name);
        Assert.Equal(CulpritConfidence.Inferred, firewall!.Confidence);
        Assert.Contains("loadBalancerSourceRanges", firewall.Summary);
        Assert.Equal("ns1/svc1:p80", endpoint?.Name);
    }

    [Fact]
    public void KubeProxysClusterIpCheckIsKubeProxysWithItsComment()
    {
        var owner = RuleOwners.Of(Rule("ip", "kube-proxy", "cluster-ips-check", 8, "ip daddr 172.30.0.0/16 drop comment \"Drop traffic to unallocated ClusterIPs\""),
                                  Flow("172.30.0.50", 80), Node());

        Assert.Equal(OwnerKind.KubeProxy, owner?.Kind);
        Assert.Contains("Drop traffic to unallocated ClusterIPs", owner!.Summary);
    }

    [Theory]
    [InlineData("inet", "kube-proxy", "reject-chain")] // kube-proxy writes ip and ip6 tables only
    [InlineData("ip", "kube-proxy-test", "reject-chain")]
    [InlineData("inet", "filter", "service-ABCDEFGH-ns/svc/tcp/p80")]
    public void TablesThatAreNotKubeProxysAreNotClaimed(string family, string table, string chain) =>
        Assert.Null(RuleOwners.Of(Rule(family, table, chain, 12, "reject"), Flow("172.30.0.46", 80), KubeProxyMaps()));

    // Calico: felix's chain names and the comments it puts on a policy or profile chain's first rule.
    [Theory]
    [InlineData("cali-pi-_4yn_o8fHHkyVWuCz5kJ", "Policy shop/knp.default.allow-web ingress", "network-policy", "shop/allow-web", "shop")]
    [InlineData("cali-po-_CVSZITRyIpEEL5Vfdjg", "Policy shop/default.deny-egress egress", "calico-policy", "shop/default.deny-egress", "shop")]
    [InlineData("cali-pi-_RgXv2HplFlrOoKrfiFvx", "Policy security.block-scanners ingress", "calico-global-policy", "security.block-scanners", null)]
    [InlineData("cali-pi-_5S9EEvETa1QHWx5ksw9N", "KubernetesNetworkPolicy shop/allow-web ingress", "network-policy", "shop/allow-web", "shop")]
    [InlineData("cali-pi-_Ev4ipXBJ29QvXdGkbnN8", "NetworkPolicy shop/default.allow-web ingress", "calico-policy", "shop/default.allow-web", "shop")]
    [InlineData("cali-pi-_W2VNa7XhUDbyoICbBm5G", "GlobalNetworkPolicy default.allow-probes ingress", "calico-global-policy", "default.allow-probes", null)]
    [InlineData("cali-pri-_7bGsSrDuhffvyOrtJfK", "Profile ksa.shop.web-frontend-serviceaccount ingress", "calico-profile", "ksa.shop.web-frontend-serviceaccount", "shop")]
    public void AHashedCalicoChainNamesItsPolicyFromItsFirstRulesComment(string chain, string comment, string kind, string name, string? ns)
    {
        var node = Node(iptables: new()
        {
            [chain] = [$"-A {chain} -m comment --comment \"cali:Pwbm7Q6DGLjBbAsi\" -m comment --comment \"{comment}\" -p udp -m multiport --dports 8885 -j DROP"],
        });

        var owner = RuleOwners.Of(Rule("ipv4", "filter", chain, 12), Flow("10.200.0.2", 8885), node);

        Assert.NotNull(owner);
        Assert.Equal(kind, owner.Kind.WireName());
        Assert.Equal(name, owner.Name);
        Assert.Equal(ns, owner.Namespace);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.StartsWith("dropped by a deny rule of ", owner.Summary);
    }

    [Theory]
    [InlineData("cali-pi-default.allow-probes", "calico-global-policy", "default.allow-probes")]
    [InlineData("cali-po-gnp/block-egress", "calico-global-policy", "block-egress")]
    [InlineData("cali-pi-knp/shop/web", "network-policy", "shop/web")]
    [InlineData("cali-pi-np/shop/allow-web", "calico-policy", "shop/allow-web")]
    [InlineData("cali-pri-kns.shop", "calico-profile", "kns.shop")]
    public void AShortCalicoChainNamesItsPolicyByName(string chain, string kind, string name)
    {
        var owner = RuleOwners.Of(Rule("ip", "filter", chain, 12), Flow("10.200.0.2", 8885), Node());

        Assert.Equal(kind, owner?.Kind.WireName());
        Assert.Equal(name, owner!.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
    }

    [Fact]
    public void AnEndpointChainsFinalDropNamesTheInterfaceAndThePolicyThatAppliesThere()
    {
        const string Endpoint = "cali-tw-cali12d4a061371";
        string[] endpointRules =
        [
            $"-A {Endpoint} -m comment --comment \"cali:aDbT2WOesYHSBMVK\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            $"-A {Endpoint} -m comment --comment \"cali:Jn8hW0JtJyTLbcNV\" -j MARK --set-xmark 0x0/0x30000",
            $"-A {Endpoint} -m comment --comment \"cali:RmB-JS69ad-N5lEO\" -m comment --comment \"Start of tier default\" -j MARK --set-xmark 0x0/0x20000",
            $"-A {Endpoint} -m comment --comment \"cali:SzDJvAeQNj9Q2o4-\" -m mark --mark 0x0/0x20000 -j cali-pi-_4yn_o8fHHkyVWuCz5kJ",
            $"-A {Endpoint} -m comment --comment \"cali:VcWoB5VfnGgEHPuR\" -m comment --comment \"Return if policy accepted\" -m mark --mark 0x10000/0x10000 -j RETURN",
            $"-A {Endpoint} -m comment --comment \"cali:tWvdlCb3ZafsLQDk\" -m comment --comment \"Drop if no policies passed packet\" -m mark --mark 0x0/0x20000 -j DROP",
            $"-A {Endpoint} -m comment --comment \"cali:R9ITqpB96yWU2L1i\" -j cali-pri-kns.shop",
        ];
        var node = Node(
            new() { [$"list chain ip filter {Endpoint}"] = string.Concat(endpointRules.Select((_, i) => $"\t\tcounter # handle {i + 10}\n")) },
            new()
            {
                [Endpoint] = endpointRules,
                ["cali-pi-_4yn_o8fHHkyVWuCz5kJ"] = ["-A cali-pi-_4yn_o8fHHkyVWuCz5kJ -m comment --comment \"cali:x\" -m comment --comment \"Policy shop/knp.default.allow-web ingress\" -p tcp -m multiport --dports 80 -j MARK --set-xmark 0x10000/0x10000"],
            });

        var owner = RuleOwners.Of(Rule("ip", "filter", Endpoint, 15), Flow("10.200.0.2", 8885), node);

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.NetworkPolicy, owner.Kind);
        Assert.Equal("shop/allow-web", owner.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
        Assert.Contains("no Calico policy allowed traffic to workload interface cali12d4a061371", owner.Summary);
        Assert.Contains(owner.Evidence, e => e.Contains("Drop if no policies passed packet", StringComparison.Ordinal));
    }

    [Fact]
    public void PoliciesAppliedThroughAPolicyGroupAreAllNamedAndAProfilesFinalDropNamesTheProfile()
    {
        const string Endpoint = "cali-fw-cali12d4a061371";
        string[] endpointRules =
        [
            $"-A {Endpoint} -m comment --comment \"cali:RmB-JS69ad-N5lEO\" -m comment --comment \"Start of tier default\" -j MARK --set-xmark 0x0/0x20000",
            $"-A {Endpoint} -m comment --comment \"cali:SzDJvAeQNj9Q2o4-\" -m mark --mark 0x0/0x20000 -j cali-go-wUHhoiAYhphO9Mso",
            $"-A {Endpoint} -m comment --comment \"cali:tWvdlCb3ZafsLQDk\" -m comment --comment \"Drop if no policies passed packet\" -m mark --mark 0x0/0x20000 -j DROP",
            $"-A {Endpoint} -m comment --comment \"cali:R9ITqpB96yWU2L1i\" -j cali-pro-kns.shop",
            $"-A {Endpoint} -m comment --comment \"cali:VcWoB5VfnGgEHPuR\" -m comment --comment \"Return if profile accepted\" -m mark --mark 0x10000/0x10000 -j RETURN",
            $"-A {Endpoint} -m comment --comment \"cali:3ZvvRkOoCQ2jyLvp\" -m comment --comment \"Drop if no profiles matched\" -j DROP",
        ];
        var node = Node(
            new() { [$"list chain ip filter {Endpoint}"] = string.Concat(endpointRules.Select((_, i) => $"\t\tcounter # handle {i + 10}\n")) },
            new()
            {
                [Endpoint] = endpointRules,
                ["cali-go-wUHhoiAYhphO9Mso"] =
                [
                    "-A cali-go-wUHhoiAYhphO9Mso -j cali-po-np/shop/allow-dns",
                    "-A cali-go-wUHhoiAYhphO9Mso -m mark --mark 0x0/0x18000 -j cali-po-np/shop/allow-db",
                ],
            });

        var policies = RuleOwners.Of(Rule("ip", "filter", Endpoint, 12), Flow("10.200.0.9", 5432), node);
        var profile = RuleOwners.Of(Rule("ip", "filter", Endpoint, 15), Flow("10.200.0.9", 5432), node);

        AssertEndpointFinalDrops(policies, profile);
    }

    /// <summary>The final drops of endpoint cali12d4a061371's egress chain: no policy (allow-dns, allow-db) passed it, and no profile (kns.shop).</summary>
    private static void AssertEndpointFinalDrops(CulpritOwner? policies, CulpritOwner? profile)
    {
        Assert.Equal("calico-policy", policies?.Kind.WireName());
        Assert.Equal("shop/allow-dns, shop/allow-db", policies!.Name);
        Assert.Contains("no Calico policy allowed traffic from workload interface cali12d4a061371", policies.Summary);
        Assert.Equal("calico-profile", profile?.Kind.WireName());
        Assert.Equal("kns.shop", profile!.Name);
        Assert.Contains("no Calico profile allowed traffic from workload interface cali12d4a061371", profile.Summary);
    }

    [Theory]
    // felix's own rules: no Kubernetes object to name.
    [InlineData("filter", "cali-from-wl-dispatch", "-A cali-from-wl-dispatch -m comment --comment \"cali:zTj6P0TIgYvgz-md\" -m comment --comment \"Unknown interface\" -j DROP")]
    [InlineData("filter", "cali-tw-cali12d4a061371", "-A cali-tw-cali12d4a061371 -m comment --comment \"cali:x\" -m conntrack --ctstate INVALID -j DROP")]
    // Names felix does not write: a policy without a tier, a profile that is neither a namespace's nor a service account's.
    [InlineData("filter", "cali-pi-allowweb", "-A cali-pi-allowweb -j DROP")]
    [InlineData("filter", "cali-pri-myprofile", "-A cali-pri-myprofile -j DROP")]
    // A Calico-looking chain in a table that is not iptables'.
    [InlineData("mytable", "cali-pi-default.allow-probes", "-A cali-pi-default.allow-probes -j DROP")]
    public void CalicoShapesWithNoPolicyBehindThemAreNotClaimed(string table, string chain, string rule)
    {
        var node = Node(new() { [$"list chain ip {table} {chain}"] = "\t\tcounter drop # handle 5\n" }, new() { [chain] = [rule] });

        Assert.Null(RuleOwners.Of(Rule("ip", table, chain, 5), Flow("10.200.0.2", 8885), node));
    }

    // Calico's nftables dataplane: felix's chains in table ip/ip6 calico, named "<iptables table>-<chain>", each rule's
    // comments joined after its hash ("cali:<hash>; <comments>"), as felix/nftables renders them and nft 1.0.6 lists them.
    private const string NftPolicyRule =
        "tcp dport 80 counter packets 0 bytes 0 meta mark set meta mark | 0x00010000 comment \"cali:Pwbm7Q6DGLjBbAsi; {0}\"";

    /// <summary>Chains of felix's table calico as <c>nft -a list chain</c> prints them; rule i of a chain has handle 10 + i.</summary>
    private static NodeAnswers CalicoNft(string family, params (string Chain, string[] Rules)[] chains) => Node(chains.ToDictionary(
        c => $"list chain {family} calico {c.Chain}",
        c => $"table {family} calico {{\n\tchain {c.Chain} {{ # handle 3\n" +
             string.Concat(c.Rules.Select((r, i) => $"\t\t{r} # handle {10 + i}\n")) + "\t}\n}\n"));

    private static Culprit CalicoNftRule(string family, string chain, ulong handle, string rule) => Rule(family, "calico", chain, handle, rule);

    [Theory]
    // Since policy kinds: the chain is named by the policy's id, its first rule's comment gives kind and name.
    [InlineData("ip", "filter-cali-pi-knp/shop/deny-probes", "KubernetesNetworkPolicy shop/deny-probes ingress", "network-policy", "shop/deny-probes", "shop")]
    [InlineData("ip6", "filter-cali-po-np/shop/default.deny-egress", "NetworkPolicy shop/default.deny-egress egress", "calico-policy", "shop/default.deny-egress", "shop")]
    [InlineData("ip", "mangle-cali-pi-gnp/block-scanners", "GlobalNetworkPolicy block-scanners ingress", "calico-global-policy", "block-scanners", null)]
    [InlineData("ip", "raw-cali-po-gnp/untracked-dns", "GlobalNetworkPolicy untracked-dns egress", "calico-global-policy", "untracked-dns", null)]
    // Before policy kinds.
    [InlineData("ip", "filter-cali-pi-shop/knp.default.allow-web", "Policy shop/knp.default.allow-web ingress", "network-policy", "shop/allow-web", "shop")]
    [InlineData("ip", "filter-cali-pri-kns.shop", "Profile kns.shop ingress", "calico-profile", "kns.shop", "shop")]
    // A name longer than nftables' 256 characters is hashed: the comment alone says whose.
    [InlineData("ip", "filter-cali-pi-_4yn_o8fHHkyVWuCz5kJ", "KubernetesNetworkPolicy shop/allow-web ingress", "network-policy", "shop/allow-web", "shop")]
    // A rule annotation comes before the chain comment.
    [InlineData("ip", "filter-cali-pi-knp/shop/deny-probes", "team=web KubernetesNetworkPolicy shop/deny-probes ingress", "network-policy", "shop/deny-probes", "shop")]
    public void ACalicoNftablesPolicyChainNamesItsPolicyExactlyFromItsFirstRulesComment(string family, string chain, string comment, string kind, string name, string? ns)
    {
        var drop = "udp dport 8885 counter packets 0 bytes 0 drop comment \"cali:4ecF5hCM4vTfpYDl;\"";
        var node = CalicoNft(family, (chain, [string.Format(System.Globalization.CultureInfo.InvariantCulture, NftPolicyRule, comment), drop]));

        var owner = RuleOwners.Of(CalicoNftRule(family, chain, 11, drop), Flow("10.200.0.2", 8885), node);

        Assert.NotNull(owner);
        Assert.Equal(kind, owner.Kind.WireName());
        Assert.Equal(name, owner.Name);
        Assert.Equal(ns, owner.Namespace);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.StartsWith("dropped by a deny rule of ", owner.Summary);
        Assert.Equal([$"comment \"cali:Pwbm7Q6DGLjBbAsi; {comment}\" on the first rule of chain {family} calico {chain}",
                      $"the drop: rule handle 11 of chain {family} calico {chain}"], owner.Evidence);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("KubernetesNetworkPolicy shop/other ingress")]
    [InlineData("KubernetesNetworkPolicy shop/deny-probes egress")]
    public void WithoutItsListingOrWithAChainCommentThatDisagreesAnNftablesChainIsNamedFromItsNameOnly(string? comment)
    {
        const string Chain = "filter-cali-pi-knp/shop/deny-probes";
        var node = comment is null ? Node() : CalicoNft("ip", (Chain, [string.Format(System.Globalization.CultureInfo.InvariantCulture, NftPolicyRule, comment)]));

        var owner = RuleOwners.Of(CalicoNftRule("ip", Chain, 11, "counter packets 0 bytes 0 drop"), Flow("10.200.0.2", 8885), node);

        Assert.Equal("network-policy", owner?.Kind.WireName());
        Assert.Equal("shop/deny-probes", owner!.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
        Assert.Contains($"chain ip calico {Chain}: Calico's chain for Kubernetes NetworkPolicy shop/deny-probes (enforced by Calico)", owner.Evidence);
    }

    /// <summary>felix's endpoint chain for a workload as nft lists it (felix/rules/endpoints.go, rendered by felix/nftables).</summary>
    private static readonly string[] NftEndpointRules =
    [
        "ct state established,related counter packets 0 bytes 0 accept comment \"cali:aDbT2WOesYHSBMVK;\"",
        "ct state invalid counter packets 0 bytes 0 drop comment \"cali:2y5ZkTx5Cj0VpIRK;\"",
        "counter packets 0 bytes 0 meta mark set meta mark & 0xfffcffff comment \"cali:Jn8hW0JtJyTLbcNV;\"",
        "counter packets 0 bytes 0 meta mark set meta mark & 0xfffdffff comment \"cali:RmB-JS69ad-N5lEO; Start of tier default\"",
        "meta mark & 0x00020000 == 0x00000000 counter packets 0 bytes 0 jump filter-cali-pi-knp/shop/allow-web comment \"cali:SzDJvAeQNj9Q2o4-;\"",
        "meta mark & 0x00010000 == 0x00010000 counter packets 0 bytes 0 return comment \"cali:VcWoB5VfnGgEHPuR; Return if policy accepted\"",
        "meta mark & 0x00020000 == 0x00000000 counter packets 0 bytes 0 drop comment \"cali:tWvdlCb3ZafsLQDk; End of tier default. Drop if no policies passed packet\"",
    ];

    [Fact]
    public void AnNftablesEndpointChainsEndOfTierDropNamesTheInterfaceAndThePolicyThatAppliesThere()
    {
        const string Endpoint = "filter-cali-tw-cali12d4a061371";
        var node = CalicoNft("ip",
            (Endpoint, NftEndpointRules),
            ("filter-cali-pi-knp/shop/allow-web", [string.Format(System.Globalization.CultureInfo.InvariantCulture, NftPolicyRule, "KubernetesNetworkPolicy shop/allow-web ingress")]));

        var owner = RuleOwners.Of(CalicoNftRule("ip", Endpoint, 16, NftEndpointRules[6]), Flow("10.200.0.2", 8885), node);

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.NetworkPolicy, owner.Kind);
        Assert.Equal("shop/allow-web", owner.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
        Assert.Equal("no Calico policy allowed traffic to workload interface cali12d4a061371; the one that applies there is " +
                     "Kubernetes NetworkPolicy shop/allow-web (enforced by Calico) (ingress)", owner.Summary);
        Assert.Contains($"comment \"cali:tWvdlCb3ZafsLQDk; End of tier default. Drop if no policies passed packet\" on rule handle 16 of chain ip calico {Endpoint}", owner.Evidence);
    }

    [Fact]
    public void NftablesPoliciesAppliedThroughAPolicyGroupAreAllNamedAndAProfilesFinalDropNamesTheProfile()
    {
        const string Endpoint = "filter-cali-fw-cali12d4a061371";
        string[] endpointRules =
        [
            "counter packets 0 bytes 0 meta mark set meta mark & 0xfffdffff comment \"cali:RmB-JS69ad-N5lEO; Start of tier default\"",
            "meta mark & 0x00020000 == 0x00000000 counter packets 0 bytes 0 jump filter-cali-go-wUHhoiAYhphO9Mso comment \"cali:SzDJvAeQNj9Q2o4-;\"",
            "meta mark & 0x00020000 == 0x00000000 counter packets 0 bytes 0 drop comment \"cali:tWvdlCb3ZafsLQDk; End of tier default. Drop if no policies passed packet\"",
            "counter packets 0 bytes 0 jump filter-cali-pro-kns.shop comment \"cali:R9ITqpB96yWU2L1i;\"",
            "meta mark & 0x00010000 == 0x00010000 counter packets 0 bytes 0 return comment \"cali:VcWoB5VfnGgEHPuR; Return if profile accepted\"",
            "counter packets 0 bytes 0 drop comment \"cali:3ZvvRkOoCQ2jyLvp; Drop if no profiles matched\"",
        ];
        var node = CalicoNft("ip6",
            (Endpoint, endpointRules),
            ("filter-cali-go-wUHhoiAYhphO9Mso",
            [
                "counter packets 0 bytes 0 jump filter-cali-po-np/shop/allow-dns comment \"cali:ZLlW0MyQsWtKkIhv;\"",
                "meta mark & 0x00018000 == 0x00000000 counter packets 0 bytes 0 jump filter-cali-po-np/shop/allow-db comment \"cali:XmNkhBjxATrZo8yp;\"",
            ]));

        var policies = RuleOwners.Of(CalicoNftRule("ip6", Endpoint, 12, endpointRules[2]), Flow("10.200.0.9", 5432), node);
        var profile = RuleOwners.Of(CalicoNftRule("ip6", Endpoint, 15, endpointRules[5]), Flow("10.200.0.9", 5432), node);

        AssertEndpointFinalDrops(policies, profile);
    }

    [Theory]
    // Calico-looking chains outside felix's table: another table, another family (felix writes ip and ip6 only), its ARP table.
    [InlineData("ip", "mytable", "filter-cali-pi-gnp/block-scanners")]
    [InlineData("inet", "calico", "filter-cali-pi-gnp/block-scanners")]
    [InlineData("arp", "calico-arp", "filter-cali-pi-gnp/block-scanners")]
    // In table calico, chains felix does not write: no layer, a layer policy never lives in, a user's own chain.
    [InlineData("ip", "calico", "cali-pi-gnp/block-scanners")]
    [InlineData("ip", "calico", "nat-cali-pi-gnp/block-scanners")]
    [InlineData("ip", "calico", "filter-my-allowlist")]
    [InlineData("ip", "calico", "filter-cali-pi-allowweb")]
    public void NftablesChainsThatAreNotFelixsAreNotClaimed(string family, string table, string chain)
    {
        const string Drop = "counter packets 0 bytes 0 drop comment \"cali:Pwbm7Q6DGLjBbAsi; GlobalNetworkPolicy block-scanners ingress\"";
        var node = Node(new() { [$"list chain {family} {table} {chain}"] = $"table {family} {table} {{\n\tchain {chain} {{\n\t\t{Drop} # handle 10\n\t}}\n}}\n" });

        Assert.Null(RuleOwners.Of(Rule(family, table, chain, 10, Drop), Flow("10.200.0.2", 8885), node));
    }

    [Theory]
    // felix's own drops, which serve no policy: an unknown interface, conntrack INVALID.
    [InlineData("filter-cali-to-wl-dispatch", 17, "counter packets 0 bytes 0 drop comment \"cali:sVDSvGpDBeRfZ1ra; Unknown interface\"")]
    [InlineData("filter-cali-tw-cali12d4a061371", 11, "ct state invalid counter packets 0 bytes 0 drop comment \"cali:2y5ZkTx5Cj0VpIRK;\"")]
    // A hashed policy chain whose comment felix cut at nftables' 128 characters: the direction is gone, the name unsure.
    [InlineData("filter-cali-pi-_4yn_o8fHHkyVWuCz5kJ", 10, "counter packets 0 bytes 0 drop comment \"cali:Pwbm7Q6DGLjBbAsi; KubernetesNetworkPolicy shop/a-very-long-policy-name-that-felix-cut-at-one-hundred-and-twenty\"")]
    public void FelixsNftablesDropsWithNoPolicyBehindThemAreNotClaimed(string chain, ulong handle, string rule)
    {
        var node = CalicoNft("ip", (chain, [rule]));

        Assert.Null(RuleOwners.Of(CalicoNftRule("ip", chain, handle, rule), Flow("10.200.0.2", 8885), node));
    }
}

using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// The Kubernetes object whose rules dropped the packet, recognised from the chain names and comments the components
/// really write: kube-proxy's iptables mode (KUBE-SERVICES, KUBE-SVC-…, "ns/name:port has no endpoints"), its
/// nftables mode (table kube-proxy: service-…-ns/name/proto/port chains, the no-endpoint verdict maps whose elements
/// name the Service), and Calico's policy, profile and workload endpoint chains (cali-pi-…, cali-pri-…, cali-tw-…) in
/// iptables' tables or, for felix's nftables dataplane, in table calico (filter-cali-pi-…).
/// A shape it does not know (a user's own KUBE-something chain, a comment that only looks like a Service) is not claimed.
/// </summary>
internal static partial class RuleOwners
{
    private const string KubeProxyTable = "kube-proxy";
    private static readonly HashSet<string> IptablesTables = ["filter", "nat", "mangle", "raw", "security"];
    private static readonly HashSet<string> KubeProxyChains =
        ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL", "KUBE-FORWARD"];

    public static CulpritOwner? Of(Culprit culprit, DropFlow flow, NodeAnswers node)
    {
        if (culprit is not { Table: { } table, Chain: { } chain, Family: { } family })
            return null;
        // A rule named by nftables' trace has nft's family (ip, ip6); a chain named by its hook point, the point's (ipv4, ipv6).
        if (table is KubeProxyTable or CalicoTable && family is "ip" or "ip6" or "ipv4" or "ipv6")
        {
            var nft = culprit with { Family = family is "ip6" or "ipv6" ? "ip6" : "ip" };
            if (table == KubeProxyTable)
                return KubeProxyNftables(nft, new NftRule(nft), flow, node);
            return CalicoNftChain().Match(chain) is { Success: true } layered
                ? Calico(layered.Groups["chain"].Value, new FelixNftRules(nft, layered.Groups["layer"].Value, flow.Netns, node))
                : null;
        }
        if (!IptablesTables.Contains(table))
            return null;
        var rules = new IptablesRules(culprit, flow.Netns, node);
        return KubeProxyIptables(chain, rules) ?? (table is "filter" or "mangle" or "raw" ? Calico(chain, rules) : null);
    }

    // kube-proxy, iptables mode (pkg/proxy/iptables): per-Service chains are KUBE-SVC-, KUBE-SVL-, KUBE-SEP-, KUBE-EXT-,
    // KUBE-FW- (and the older KUBE-XLB-) plus 16 characters of base32 of a hash; the Service is in the rules' comments.
    [GeneratedRegex("^KUBE-(?<kind>SVC|SVL|SEP|EXT|FW|XLB)-[A-Z2-7]{16}$")]
    private static partial Regex ServiceChain();

    /// <summary>A comment kube-proxy starts with the Service port it is for: "ns/name:port", then what the rule does.</summary>
    [GeneratedRegex("^(?<service>(?<ns>[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)/(?<name>[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?):(?<port>(?:[a-z0-9](?:[-a-z0-9]{0,13}[a-z0-9])?)?))(?: (?<rest>.+))?$")]
    private static partial Regex ServiceComment();

    private static CulpritOwner? KubeProxyIptables(string chain, IptablesRules rules)
    {
        var perService = ServiceChain().Match(chain);
        if (!perService.Success && !KubeProxyChains.Contains(chain))
            return null;
        var comments = rules.DroppingComments;
        foreach (var comment in comments)
        {
            if (ServiceComment().Match(comment) is { Success: true } named)
                return Service(named, ServiceSummary(named, chain, ownComment: true), CulpritConfidence.Exact, $"comment \"{comment}\" on {rules.Where}");
        }
        if (perService.Success)
        {
            // A rule without a comment: the chain is one Service's, and its other rules say whose.
            var mates = rules.Comments(chain).Select(c => ServiceComment().Match(c)).Where(m => m.Success).ToList();
            if (mates.Select(m => m.Groups["service"].Value).Distinct().Count() == 1)
                return Service(mates[0], ServiceSummary(mates[0], chain, ownComment: false), CulpritConfidence.Inferred,
                               $"{rules.Where} has no comment; chain {chain} is kube-proxy's for one Service, its rules' comments name {mates[0].Groups["service"].Value}");
        }
        return KubeProxyItself(chain, comments.FirstOrDefault(), rules.Where);
    }

    /// <summary>What the rule did for the Service: from the dropping rule's own comment, else from the kind of chain.</summary>
    private static string ServiceSummary(Match named, string chain, bool ownComment)
    {
        var service = ServiceName(named);
        var rest = ownComment ? named.Groups["rest"].Value : "";
        if (rest == "has no endpoints")
            return $"Service {service} has no ready endpoints";
        if (rest == "has no local endpoints")
            return $"Service {service} has no ready endpoints on this node (externalTrafficPolicy: Local)";
        if (rest.StartsWith("traffic not accepted by ", StringComparison.Ordinal))
            return $"Service {service} accepts load-balancer traffic only from its loadBalancerSourceRanges, and this source is not in them";
        var rules = ServiceChain().Match(chain).Groups["kind"].Value switch
        {
            "FW" => "load-balancer firewall rules",
            "EXT" or "XLB" => "external-traffic rules",
            "SVL" => "node-local endpoint rules",
            _ => "rules",
        };
        return $"dropped by kube-proxy's {rules} for Service {service}";
    }

    private static CulpritOwner KubeProxyItself(string chain, string? comment, string where) => new()
    {
        Kind = OwnerKind.KubeProxy, Name = "kube-proxy", Confidence = CulpritConfidence.Inferred,
        Summary = $"dropped by kube-proxy's chain {chain}{(comment is null ? "" : $" (\"{comment}\")")}, which serves no one Service",
        Evidence = [$"chain {chain} is kube-proxy's", comment is null ? $"{where} has no comment naming a Service" : $"comment \"{comment}\" on {where}"],
    };

    private static string ServiceName(Match named) =>
        named.Groups["port"].Value.Length == 0 ? $"{named.Groups["ns"].Value}/{named.Groups["name"].Value}" : named.Groups["service"].Value;

    private static CulpritOwner Service(Match named, string summary, CulpritConfidence confidence, params string[] evidence) => new()
    {
        Kind = OwnerKind.Service, Name = ServiceName(named), Namespace = named.Groups["ns"].Value,
        Summary = summary, Confidence = confidence, Evidence = evidence,
    };

    // kube-proxy, nftables mode (pkg/proxy/nftables): table ip/ip6 kube-proxy; per-Service chains carry the Service in their
    // name, "service-HASH-ns/name/proto/port" (endpoint chains add "__ip/port"); Services with no endpoints are elements of
    // the verdict maps no-endpoint-services (address . protocol . port) and no-endpoint-nodeports (protocol . port), each
    // with the Service port as its comment, whose verdict is "goto reject-chain" or (no local endpoints) "drop".
    [GeneratedRegex("^(?<kind>service|external|endpoint|firewall)-[A-Z2-7]{8}-(?<ns>[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)/(?<name>[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)/(?:tcp|udp|sctp)/(?<port>(?:[a-z0-9](?:[-a-z0-9]{0,13}[a-z0-9])?)?)(?:__\\S+)?$")]
    private static partial Regex NftServiceChain();

    [GeneratedRegex("comment \"(?<comment>[^\"]*)\"$")]
    private static partial Regex NftComment();

    private static CulpritOwner? KubeProxyNftables(Culprit culprit, NftRule rule, DropFlow flow, NodeAnswers node)
    {
        var chain = culprit.Chain!;
        if (NftServiceChain().Match(chain) is { Success: true } perService)
        {
            var service = $"{perService.Groups["ns"].Value}/{perService.Groups["name"].Value}:{perService.Groups["port"].Value}".TrimEnd(':');
            var summary = perService.Groups["kind"].Value == "firewall"
                ? $"Service {service} accepts load-balancer traffic only from its loadBalancerSourceRanges, and this source is not in them"
                : $"dropped by kube-proxy's rules for Service {service}";
            return new CulpritOwner
            {
                Kind = OwnerKind.Service, Name = service, Namespace = perService.Groups["ns"].Value, Summary = summary,
                Confidence = CulpritConfidence.Inferred,
                Evidence = [$"{rule.Where}: the chain kube-proxy writes for Service {service}"],
            };
        }
        var (wanted, maps) = chain switch
        {
            "reject-chain" => ("goto reject-chain", new[] { "no-endpoint-services", "no-endpoint-nodeports" }),
            "service-endpoints-check" => ("drop", ["no-endpoint-services"]),
            "nodeport-endpoints-check" => ("drop", ["no-endpoint-nodeports"]),
            _ => (null, []),
        };
        foreach (var map in maps)
        {
            var listing = node.NftablesListing(flow.Netns, $"list map {culprit.Family} {KubeProxyTable} {map}");
            if (listing is null || NoEndpointElement(listing, flow, wanted!) is not { } element)
                continue;
            if (ServiceComment().Match(element.Comment) is not { Success: true } named)
                continue;
            var service = ServiceName(named);
            return new CulpritOwner
            {
                Kind = OwnerKind.Service, Name = service, Namespace = named.Groups["ns"].Value, Confidence = CulpritConfidence.Exact,
                Summary = wanted == "drop"
                    ? $"Service {service} has no ready endpoints on this node (externalTrafficPolicy: Local)"
                    : $"Service {service} has no ready endpoints",
                Evidence = [$"element \"{element.Key}\" of map {culprit.Family} {KubeProxyTable} {map}: comment \"{element.Comment}\", verdict {element.Verdict}",
                            $"the drop: {rule.Where}"],
            };
        }
        var comment = rule.Text is { } text && NftComment().Match(text) is { Success: true } c ? c.Groups["comment"].Value : null;
        return KubeProxyItself(chain, comment, rule.Where);
    }

    /// <summary>An element of a kube-proxy no-endpoint map as nft lists it: key, comment, verdict.</summary>
    private sealed record MapElement(string Key, string Comment, string Verdict);

    [GeneratedRegex("^\\s*(?<key>\\S.*?)\\s+comment\\s+\"(?<comment>[^\"]*)\"\\s*:\\s*(?<verdict>\\S.*?)\\s*$")]
    private static partial Regex ElementWithComment();

    /// <summary>The elements of a map as <c>nft list map</c> prints them ("elements = { k comment "c" : v, … }").</summary>
    private static IReadOnlyList<MapElement> MapElements(string listing)
    {
        var start = listing.IndexOf("elements = {", StringComparison.Ordinal);
        if (start < 0)
            return [];
        start += "elements = {".Length;
        var end = listing.IndexOf('}', start);
        if (end < 0)
            return [];
        return [.. listing[start..end].Split(',')
            .Select(e => ElementWithComment().Match(e))
            .Where(m => m.Success)
            .Select(m => new MapElement(m.Groups["key"].Value, m.Groups["comment"].Value, m.Groups["verdict"].Value))];
    }

    /// <summary>The element whose key is the flow's destination (address, protocol, port; a NodePort map has no address) and whose verdict is <paramref name="verdict"/>.</summary>
    private static MapElement? NoEndpointElement(string listing, DropFlow flow, string verdict)
    {
        if (flow is not { Destination: { } destination, ProtocolName: { } protocol, IsIcmp: false } || flow.DestinationPort == 0)
            return null;
        return MapElements(listing).FirstOrDefault(e => e.Verdict == verdict && e.Key.Split(" . ") switch
        {
            [var address, var proto, var port] => IPAddress.TryParse(address, out var a) && a.Equals(destination) && proto == protocol && IsPort(port, flow.DestinationPort),
            [var proto, var port] => proto == protocol && IsPort(port, flow.DestinationPort),
            _ => false,
        });
    }

    private static bool IsPort(string text, ushort port) => ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p == port;

    // Calico (felix rules/): policy chains cali-pi-/cali-po- plus the policy's id, profile chains cali-pri-/cali-pro- plus
    // the profile's name ("kns.<ns>", "ksa.<ns>.<sa>"), workload endpoint chains cali-tw-/cali-fw- plus the interface; any
    // of them too long for a chain name is "<prefix>_" plus a hash, and then the policy's or profile's chain says whose in
    // the comment on its first rule ("Policy <name> ingress", or since policy kinds: "<Kind> <ns>/<name> ingress").
    [GeneratedRegex("^cali-(?<prefix>pi|po|pri|pro|tw|fw)-(?<id>.+)$")]
    private static partial Regex CalicoChain();

    // The chain comment ends the first rule's comments: iptables gives it a --comment of its own; nftables joins felix's
    // comments into one, after the rule's hash ("cali:<hash>; Policy shop/knp.default.allow-web ingress").
    [GeneratedRegex("(?:^|\\s)(?<kind>Policy|NetworkPolicy|GlobalNetworkPolicy|KubernetesNetworkPolicy|Profile) (?<name>\\S+) (?<direction>ingress|egress)$")]
    private static partial Regex CalicoChainComment();

    // felix's nftables dataplane (felix/nftables/table.go, table_layer.go; created in felix/dataplane/linux/int_dataplane.go):
    // one table "calico" per family (ip, ip6) holds the chains of iptables' tables, each named "<table>-<iptables name>":
    // base chains filter-FORWARD, mangle-PREROUTING…, policy chains filter-cali-pi-…, endpoint chains filter-cali-tw-<iface>.
    // Policy lives in the filter, mangle (pre-DNAT) and raw (untracked) layers.
    private const string CalicoTable = "calico";

    [GeneratedRegex("^(?<layer>filter|mangle|raw)-(?<chain>cali-.+)$")]
    private static partial Regex CalicoNftChain();

    private static CulpritOwner? Calico(string chain, IFelixRules rules)
    {
        if (CalicoChain().Match(chain) is not { Success: true } calico)
            return null;
        if (calico.Groups["prefix"].Value is "tw" or "fw")
            return EndpointFinalDrop(chain, calico, rules);
        if (CalicoOwner(chain, rules) is not { } owner)
            return null;
        return owner with
        {
            Summary = $"dropped by a deny rule of {owner.Summary}",
            Evidence = [.. owner.Evidence, $"the drop: {rules.Where}"],
        };
    }

    /// <summary>
    /// A workload endpoint chain's last word ("Drop if no policies passed packet", since tiers' end "End of tier default.
    /// Drop if no policies passed packet"; "Drop if no profiles matched"): the interface, and the policies (or profiles)
    /// that apply there, none of which allowed the packet. felix's other drops there (conntrack INVALID, encapsulated
    /// packets, an admin-down endpoint) serve no policy and are not claimed.
    /// </summary>
    private static CulpritOwner? EndpointFinalDrop(string chain, Match calico, IFelixRules rules)
    {
        var final = rules.DroppingComments.FirstOrDefault(c => c.EndsWith(" if no policies passed packet", StringComparison.Ordinal) ||
                                                               c.EndsWith(" if no profiles matched", StringComparison.Ordinal));
        if (final is null)
            return null;
        var policies = final.EndsWith(" if no policies passed packet", StringComparison.Ordinal);
        var applied = Applied(chain, policies ? ["cali-pi-", "cali-po-"] : ["cali-pri-", "cali-pro-"], rules)
            .Select(c => CalicoOwner(c, rules)).OfType<CulpritOwner>().ToList();
        if (applied.Count == 0)
            return null;
        var id = calico.Groups["id"].Value;
        var endpoint = id.StartsWith('_') ? $"the workload endpoint of chain {rules.Named(chain)}" : $"workload interface {id}";
        var direction = calico.Groups["prefix"].Value == "tw" ? "to" : "from";
        var first = applied[0];
        return first with
        {
            Name = string.Join(", ", applied.Select(o => o.Name)),
            Kind = applied.All(o => o.Kind == first.Kind) ? first.Kind : OwnerKind.CalicoPolicy,
            Namespace = applied.All(o => o.Namespace == first.Namespace) ? first.Namespace : null,
            Confidence = CulpritConfidence.Inferred,
            Summary = $"{(policies ? "no Calico policy" : "no Calico profile")} allowed traffic {direction} {endpoint}; " + (applied.Count == 1
                ? $"the one that applies there is {first.Summary}"
                : "those that apply there: " + string.Join("; ", applied.Select(o => o.Summary))),
            Evidence = [$"comment \"{final}\" on {rules.Where}", .. applied.SelectMany(o => o.Evidence)],
        };
    }

    /// <summary>The policy (or profile) chains an endpoint chain jumps to, through policy group chains (cali-gi-, cali-go-) too.</summary>
    private static IEnumerable<string> Applied(string chain, string[] prefixes, IFelixRules rules) =>
        rules.Targets(chain)
            .SelectMany(c => c.StartsWith("cali-gi-", StringComparison.Ordinal) || c.StartsWith("cali-go-", StringComparison.Ordinal)
                ? Applied(c, prefixes, rules)
                : prefixes.Any(p => c.StartsWith(p, StringComparison.Ordinal)) ? [c] : [])
            .Distinct();

    /// <summary>
    /// The policy or profile a cali-pi/po/pri/pro chain is for: from the comment on its first rule where felix wrote one
    /// that agrees with the chain's name (a hashed name agrees with any), else from the name alone.
    /// </summary>
    private static CulpritOwner? CalicoOwner(string chain, IFelixRules rules)
    {
        var calico = CalicoChain().Match(chain);
        var profile = calico.Groups["prefix"].Value is "pri" or "pro";
        var direction = calico.Groups["prefix"].Value is "pi" or "pri" ? "ingress" : "egress";
        var id = calico.Groups["id"].Value;
        var hashed = id.StartsWith('_');
        var fromName = hashed ? null : profile ? CalicoProfile(id) : CalicoPolicy(id, kind: null);
        foreach (var comment in rules.Comments(chain))
        {
            if (CalicoChainComment().Match(comment) is not { Success: true } named || (named.Groups["kind"].Value == "Profile") != profile ||
                named.Groups["direction"].Value != direction)
                continue;
            var fromComment = profile ? CalicoProfile(named.Groups["name"].Value) : CalicoPolicy(named.Groups["name"].Value, named.Groups["kind"].Value);
            if (fromComment is null || (!hashed && (fromComment.Kind, fromComment.Name) != (fromName?.Kind, fromName?.Name)))
                break;
            return fromComment with
            {
                Confidence = CulpritConfidence.Exact, Summary = $"{fromComment.Summary} ({direction})",
                Evidence = [$"comment \"{comment}\" on the first rule of chain {rules.Named(chain)}"],
            };
        }
        return fromName is null ? null : fromName with
        {
            Confidence = CulpritConfidence.Inferred, Summary = $"{fromName.Summary} ({direction})",
            Evidence = [$"chain {rules.Named(chain)}: Calico's chain for {fromName.Summary}"],
        };
    }

    private const string Dns1123 = "[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?";

    // How felix names a policy: since policy kinds, "np/<ns>/<name>", "gnp/<name>", "knp/<ns>/<name>"; before, "<ns>/<tier>.<name>"
    // for a namespaced Calico policy, "<tier>.<name>" for a global one, and "<ns>/knp.default.<name>" for a Kubernetes one.
    [GeneratedRegex("^(?:(?<short>np|gnp|knp)/)?(?:(?<ns>" + Dns1123 + ")/)?(?<name>[a-z0-9][-a-z0-9.]*[a-z0-9])$")]
    private static partial Regex CalicoPolicyName();

    /// <summary>A policy from felix's id for it; <paramref name="kind"/>: the kind a chain comment gave ("Policy" before kinds).</summary>
    internal static CulpritOwner? CalicoPolicy(string id, string? kind)
    {
        if (CalicoPolicyName().Match(id) is not { Success: true } m)
            return null;
        var ns = m.Groups["ns"].Success ? m.Groups["ns"].Value : null;
        var name = m.Groups["name"].Value;
        kind = m.Groups["short"].Value switch { "np" => "NetworkPolicy", "gnp" => "GlobalNetworkPolicy", "knp" => "KubernetesNetworkPolicy", _ => kind };
        if (kind is null or "Policy")
        {
            // Before kinds: a Kubernetes policy is knp.default.<name>; every other name is <tier>.<name>.
            if (name.StartsWith("knp.default.", StringComparison.Ordinal))
                (kind, name) = ("KubernetesNetworkPolicy", name["knp.default.".Length..]);
            else if (name.Contains('.', StringComparison.Ordinal))
                kind = ns is null ? "GlobalNetworkPolicy" : "NetworkPolicy";
            else
                return null;
        }
        return kind switch
        {
            "KubernetesNetworkPolicy" when ns is not null => Owner(OwnerKind.NetworkPolicy, $"{ns}/{name}", ns, $"Kubernetes NetworkPolicy {ns}/{name} (enforced by Calico)"),
            "NetworkPolicy" when ns is not null => Owner(OwnerKind.CalicoPolicy, $"{ns}/{name}", ns, $"Calico NetworkPolicy {ns}/{name}"),
            "GlobalNetworkPolicy" when ns is null => Owner(OwnerKind.CalicoGlobalPolicy, name, null, $"Calico GlobalNetworkPolicy {name}"),
            _ => null,
        };
    }

    [GeneratedRegex("^(?:kns\\.(?<ns>" + Dns1123 + ")|ksa\\.(?<ns>" + Dns1123 + ")\\.(?<sa>" + Dns1123 + "))$")]
    private static partial Regex CalicoProfileName();

    /// <summary>A profile Calico makes for a namespace ("kns.shop") or service account ("ksa.shop.web"); others are not claimed.</summary>
    private static CulpritOwner? CalicoProfile(string name) => CalicoProfileName().Match(name) is not { Success: true } m ? null
        : Owner(OwnerKind.CalicoProfile, name, m.Groups["ns"].Value, m.Groups["sa"].Success
            ? $"Calico profile {name} (service account {m.Groups["ns"].Value}/{m.Groups["sa"].Value})"
            : $"Calico profile {name} (namespace {m.Groups["ns"].Value})");

    private static CulpritOwner Owner(OwnerKind kind, string name, string? ns, string summary) => new()
    {
        Kind = kind, Name = name, Namespace = ns, Summary = summary, Confidence = CulpritConfidence.Inferred,
    };

    /// <summary>An nftables rule culprit: its text as nft lists it, and where it is.</summary>
    private sealed record NftRule(string? Text, string Where)
    {
        public NftRule(Culprit c) : this(c.Rule, c.Handle is { } handle
            ? $"rule handle {handle} of chain {c.Family} {c.Table} {c.Chain}"
            : $"the policy of chain {c.Family} {c.Table} {c.Chain}")
        {
        }
    }

    /// <summary>
    /// felix's rules as one dataplane holds them, asked by felix's own chain names (cali-pi-…): iptables' tables, or the
    /// layers of nftables' table calico. What a Calico owner needs: the dropping rule's comments, a chain's comments and
    /// the chains it jumps to.
    /// </summary>
    private interface IFelixRules
    {
        /// <summary>Where the dropping rule is, for evidence.</summary>
        string Where { get; }

        /// <summary>The dropping rule's comments; none where it cannot be read.</summary>
        IReadOnlyList<string> DroppingComments { get; }

        /// <summary>The comments of a chain's rules, in order; none where it cannot be read.</summary>
        IEnumerable<string> Comments(string chain);

        /// <summary>The chains a chain's rules jump or go to, by felix's names.</summary>
        IEnumerable<string> Targets(string chain);

        /// <summary>A chain as this dataplane names it.</summary>
        string Named(string chain);
    }

    /// <summary>
    /// felix's nftables rules (felix/nftables/renderer.go): each rule's comment is one string, the rule's hash first
    /// ("cali:<hash>;") then felix's comments joined by spaces, cut at 128 characters; nft lists it with the rule, so the
    /// dropping rule's comment is in its text, and a chain's are in <c>nft list chain</c>. Jumps name the layer's chains
    /// (table_layer.go): "jump filter-cali-pi-…".
    /// </summary>
    private sealed class FelixNftRules(Culprit culprit, string layer, uint netns, NodeAnswers node) : IFelixRules
    {
        private readonly NftRule _dropping = new(culprit);

        public string Where => _dropping.Where;

        public IReadOnlyList<string> DroppingComments => _dropping.Text is { } text && Comment(text) is { } comment ? [comment] : [];

        public IEnumerable<string> Comments(string chain) => Rules(chain).Select(Comment).OfType<string>();

        public IEnumerable<string> Targets(string chain) => Rules(chain)
            .Select(r => NftJump().Match(NftComment().Replace(r, "")))
            .Where(m => m.Success && m.Groups["chain"].Value.StartsWith($"{layer}-", StringComparison.Ordinal))
            .Select(m => m.Groups["chain"].Value[(layer.Length + 1)..]);

        public string Named(string chain) => $"{culprit.Family} {CalicoTable} {layer}-{chain}";

        /// <summary>A chain's rules as nft lists them, without their handles.</summary>
        private IEnumerable<string> Rules(string chain) =>
            (node.NftablesListing(netns, $"list chain {culprit.Family} {CalicoTable} {layer}-{chain}") ?? "").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith("table ", StringComparison.Ordinal) && !l.StartsWith("chain ", StringComparison.Ordinal) && l != "}")
            .Select(l => l.LastIndexOf(" # handle ", StringComparison.Ordinal) is var at and >= 0 ? l[..at] : l);

        private static string? Comment(string rule) => NftComment().Match(rule) is { Success: true } m ? m.Groups["comment"].Value : null;
    }

    [GeneratedRegex("(?:^|\\s)(?:jump|goto) (?<chain>\\S+)")]
    private static partial Regex NftJump();

    /// <summary>
    /// The rules of an iptables culprit's table as iptables itself writes them ("-A CHAIN … -m comment --comment …"): nft's
    /// listing of an iptables-nft rule has no comments, so the dropping rule is found in <c>iptables-nft -S</c> by its place
    /// among the chain's rules (nft lists them in the same order, with handles); an iptables-legacy culprit carries its text.
    /// </summary>
    private sealed class IptablesRules(Culprit culprit, uint netns, NodeAnswers node) : IFelixRules
    {
        private readonly bool _legacy = culprit.Handle is null && culprit.Rule?.StartsWith("-A ", StringComparison.Ordinal) == true;
        private string? _dropping;
        private bool _found;

        public string Table => culprit.Table!;

        public string Where => _legacy
            ? $"iptables-legacy rule {culprit.RuleNumber?.ToString(CultureInfo.InvariantCulture) ?? "?"} of chain {culprit.Table} {culprit.Chain}"
            : culprit.Handle is { } handle ? $"rule handle {handle} of chain {culprit.Family} {culprit.Table} {culprit.Chain}"
            : $"the policy of chain {culprit.Family} {culprit.Table} {culprit.Chain}";

        /// <summary>The dropping rule as iptables writes it; null for a chain policy or where it cannot be read.</summary>
        public string? Dropping
        {
            get
            {
                if (!_found)
                    (_dropping, _found) = (_legacy ? culprit.Rule : FindDropping(), true);
                return _dropping;
            }
        }

        /// <summary>The rules of a chain of the same table and namespace; null where they cannot be read.</summary>
        public IReadOnlyList<string>? Of(string chain) => node.IptablesChainRules(netns, Family, culprit.Table!, chain);

        public IReadOnlyList<string> DroppingComments => Dropping is { } dropping ? RuleComments(dropping) : [];

        public IEnumerable<string> Comments(string chain) => (Of(chain) ?? []).SelectMany(RuleComments);

        public IEnumerable<string> Targets(string chain) =>
            (Of(chain) ?? []).Select(r => IptablesJump().Match(r)).Where(m => m.Success).Select(m => m.Groups["chain"].Value);

        public string Named(string chain) => chain;

        // iptables-nft culprits come from nftables' trace (family ip or ip6); iptables-legacy ones from a hook point (ipv4, ipv6).
        private string Family => _legacy ? culprit.Family! : culprit.Family switch { "ipv4" => "ip", "ipv6" => "ip6", var f => f! };

        private string? FindDropping()
        {
            if (culprit.Handle is not { } handle ||
                node.NftablesListing(netns, $"list chain {culprit.Family} {culprit.Table} {culprit.Chain}") is not { } listing)
                return null;
            var handles = listing.Split('\n').Select(l => l.Trim())
                .Where(l => !l.StartsWith("chain ", StringComparison.Ordinal) && !l.StartsWith("table ", StringComparison.Ordinal))
                .Select(l => l.LastIndexOf("# handle ", StringComparison.Ordinal) is var at and >= 0 ? l[(at + "# handle ".Length)..].Trim() : null)
                .Where(h => h is not null).ToList();
            var index = handles.IndexOf(handle.ToString(CultureInfo.InvariantCulture));
            return index >= 0 && Of(culprit.Chain!) is { } rules && rules.Count == handles.Count ? rules[index] : null;
        }

        /// <summary>The <c>-m comment --comment</c> texts of a rule, in order.</summary>
        private static IReadOnlyList<string> RuleComments(string rule) =>
            [.. IptablesComment().Matches(rule).Select(m => m.Groups["quoted"].Success ? m.Groups["quoted"].Value.Replace("\\\"", "\"", StringComparison.Ordinal) : m.Groups["word"].Value)];
    }

    [GeneratedRegex("(?:^|\\s)-[jg] (?<chain>\\S+)")]
    private static partial Regex IptablesJump();

    [GeneratedRegex("--comment (?:\"(?<quoted>(?:[^\"\\\\]|\\\\.)*)\"|(?<word>[^\\s\"]\\S*))")]
    private static partial Regex IptablesComment();
}

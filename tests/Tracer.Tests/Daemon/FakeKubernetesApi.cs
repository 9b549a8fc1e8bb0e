using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Daemon;

/// <summary>
/// A FAKE kube-apiserver (no real one can run on these machines): GET one pod, and GET /api/v1/pods with
/// a spec.nodeName field selector, as a list or as a watch, in the API's wire format — a PodList with a
/// resourceVersion; watch events as JSON lines, BOOKMARKs, an ERROR event with a 410 Status when the
/// asked resourceVersion is too old; core/v1 Events created, merge-patched or replaced in a namespace,
/// kept as the API keeps them. The test drives it: add or delete pods, send a bookmark, drop the open
/// watches, expire history. It requires the bearer token of the kubeconfig it writes.
/// For the owners checked against the API: GET one Service (core/v1) or NetworkPolicy (networking.k8s.io/v1), and the
/// EndpointSlices of a Service (discovery.k8s.io/v1, by the kubernetes.io/service-name label); it serves no Calico
/// API group (404, as an API server without Calico's).
/// </summary>
internal sealed class FakeKubernetesApi : IAsyncDisposable
{
    public const string Token = "fake-token-for-tracer-tests";

    private readonly WebApplication _app;
    private readonly Socket _listener;
    private readonly Dictionary<string, JsonObject> _pods = []; // by uid
    private readonly Dictionary<string, JsonObject> _events = []; // by NAMESPACE/NAME
    private readonly Dictionary<string, JsonObject> _objects = []; // Services and NetworkPolicies, by their API path
    private readonly List<JsonObject> _endpointSlices = [];
    private readonly List<Channel<string>> _watches = [];
    private readonly Lock _gate = new();
    private long _resourceVersion = 100;
    private long _oldestWatchable; // a watch from before this gets 410 Gone

    /// <summary>
    /// Every request as "list", "watch rv=… bookmarks=…", "get NAMESPACE/NAME", "create|patch|replace event NAMESPACE/NAME",
    /// "get PATH" (a Service, a NetworkPolicy, an API group) or "list endpointslices NAMESPACE LABELSELECTOR", in order.
    /// </summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public int Port { get; }

    private FakeKubernetesApi(WebApplication app, Socket listener)
    {
        _app = app;
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    public static async Task<FakeKubernetesApi> StartIn(string namespacePath)
    {
        var listener = NamespaceSockets.ListenIn(namespacePath, 0);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenHandle((ulong)listener.Handle, l => l.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var api = new FakeKubernetesApi(app, listener);
        app.MapGet("/api/v1/pods", api.Pods);
        app.MapGet("/api/v1/namespaces/{ns}/pods/{name}", api.OnePod);
        app.MapPost("/api/v1/namespaces/{ns}/events", api.CreateEvent);
        app.MapGet("/api/v1/namespaces/{ns}/services/{name}", api.OneObject);
        app.MapGet("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}", api.OneObject);
        app.MapGet("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", api.EndpointSlices);
        app.MapGet("/apis/{**rest}", api.OneObject); // any other group: not served
        app.MapMethods("/api/v1/namespaces/{ns}/events/{name}", ["PATCH", "PUT"], api.ChangeEvent);
        await app.StartAsync();
        return api;
    }

    /// <summary>A kubeconfig that points at this server with its token.</summary>
    public string WriteKubeconfig(string directory)
    {
        var path = Path.Combine(directory, "kubeconfig");
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: http://127.0.0.1:{Port}
            users:
            - name: tracer
              user:
                token: {Token}
            contexts:
            - name: fake
              context:
                cluster: fake
                user: tracer
            current-context: fake
            """);
        return path;
    }

    /// <summary>The Events as the API holds them now (JSON, as a client would read them back).</summary>
    public IReadOnlyList<string> Events()
    {
        lock (_gate)
            return [.. _events.Values.Select(e => e.ToJsonString())];
    }

    /// <summary>
    /// A pod as the API serves it; <paramref name="owner"/> is (kind, name) of its controller; <paramref name="container"/>
    /// adds fields to its one container (ports, probes).
    /// </summary>
    public static JsonObject Pod(string ns, string name, string node, IEnumerable<IPAddress> addresses, (string Kind, string Name)? owner = null,
                                 Dictionary<string, string>? labels = null, bool hostNetwork = false, JsonObject? container = null)
    {
        var ips = addresses.Select(a => a.ToString()).ToList();
        var metadata = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = ns,
            ["uid"] = Guid.NewGuid().ToString(),
            ["labels"] = new JsonObject((labels ?? []).Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
        };
        if (owner is { } o)
            metadata["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = o.Kind == "Job" ? "batch/v1" : "apps/v1",
                ["kind"] = o.Kind,
                ["name"] = o.Name,
                ["uid"] = Guid.NewGuid().ToString(),
                ["controller"] = true,
                ["blockOwnerDeletion"] = true,
            });
        return new JsonObject
        {
            ["kind"] = "Pod",
            ["apiVersion"] = "v1",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject
            {
                ["nodeName"] = node,
                ["hostNetwork"] = hostNetwork,
                ["containers"] = new JsonArray(Container(container)),
            },
            ["status"] = new JsonObject
            {
                ["phase"] = "Running",
                ["podIP"] = ips.FirstOrDefault(),
                ["podIPs"] = new JsonArray([.. ips.Select(ip => (JsonNode)new JsonObject { ["ip"] = ip })]),
            },
        };
    }

    private static JsonObject Container(JsonObject? fields)
    {
        var container = new JsonObject { ["name"] = "app", ["image"] = "registry.example/app:1" };
        foreach (var (key, value) in fields ?? [])
            container[key] = value?.DeepClone();
        return container;
    }

    /// <summary>A Service as the API serves it (a ClusterIP one: what the owner check reads is that it exists).</summary>
    public void AddService(string ns, string name) => AddObject($"/api/v1/namespaces/{ns}/services/{name}", new JsonObject
    {
        ["kind"] = "Service", ["apiVersion"] = "v1", ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["uid"] = Guid.NewGuid().ToString() },
        ["spec"] = new JsonObject { ["type"] = "ClusterIP", ["selector"] = new JsonObject { ["app"] = name } },
    });

    /// <summary>An EndpointSlice of Service NAMESPACE/<paramref name="service"/> with one endpoint per entry of <paramref name="ready"/> (its ready condition) on <paramref name="node"/>.</summary>
    public void AddEndpointSlice(string ns, string service, string node, params bool[] ready)
    {
        var slice = new JsonObject
        {
            ["kind"] = "EndpointSlice", ["apiVersion"] = "discovery.k8s.io/v1", ["addressType"] = "IPv4",
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{service}-{Guid.NewGuid().ToString()[..5]}", ["namespace"] = ns,
                ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = service, ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io" },
            },
            ["endpoints"] = new JsonArray([.. ready.Select((r, i) => (JsonNode)new JsonObject
            {
                ["addresses"] = new JsonArray((JsonNode)$"10.244.9.{i + 1}"),
                ["conditions"] = new JsonObject { ["ready"] = r, ["serving"] = r, ["terminating"] = false },
                ["nodeName"] = node,
            })]),
            ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["port"] = 8080, ["protocol"] = "TCP" }),
        };
        lock (_gate)
            _endpointSlices.Add(slice);
    }

    /// <summary>A NetworkPolicy as the API serves it, selecting pods with <paramref name="podSelector"/> (a LabelSelector).</summary>
    public void AddNetworkPolicy(string ns, string name, JsonObject podSelector) =>
        AddObject($"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}", new JsonObject
        {
            ["kind"] = "NetworkPolicy", ["apiVersion"] = "networking.k8s.io/v1",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["uid"] = Guid.NewGuid().ToString() },
            ["spec"] = new JsonObject { ["podSelector"] = podSelector, ["policyTypes"] = new JsonArray((JsonNode)"Ingress") },
        });

    private void AddObject(string path, JsonObject item)
    {
        lock (_gate)
        {
            item["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _objects[path] = item;
        }
    }

    public void Add(JsonObject pod) => Change("ADDED", pod, remove: false);

    public void Delete(JsonObject pod) => Change("DELETED", pod, remove: true);

    /// <summary>A BOOKMARK to every open watch; returns its resourceVersion.</summary>
    public string Bookmark()
    {
        lock (_gate)
        {
            var rv = (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Send(Event("BOOKMARK", new JsonObject { ["kind"] = "Pod", ["apiVersion"] = "v1", ["metadata"] = new JsonObject { ["resourceVersion"] = rv } }));
            return rv;
        }
    }

    /// <summary>Ends every open watch, as an apiserver restart or a load balancer's idle timeout does.</summary>
    public void DropWatches()
    {
        lock (_gate)
        {
            foreach (var watch in _watches)
                watch.Writer.TryComplete();
            _watches.Clear();
        }
    }

    /// <summary>Forgets the history: open watches get an ERROR 410 event, and watches from any earlier resourceVersion are refused the same way.</summary>
    public void ExpireHistory()
    {
        lock (_gate)
        {
            _oldestWatchable = ++_resourceVersion;
            Send(Gone());
            DropWatches();
        }
    }

    private void Change(string type, JsonObject pod, bool remove)
    {
        lock (_gate)
        {
            var uid = pod["metadata"]!["uid"]!.GetValue<string>();
            pod["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (remove)
                _pods.Remove(uid);
            else
                _pods[uid] = pod;
            Send(Event(type, pod));
        }
    }

    private void Send(string line)
    {
        foreach (var watch in _watches)
            watch.Writer.TryWrite(line);
    }

    private static string Event(string type, JsonObject item) => new JsonObject { ["type"] = type, ["object"] = item.DeepClone() }.ToJsonString();

    private static string Gone() => Event("ERROR", new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = "too old resource version",
        ["reason"] = "Expired",
        ["code"] = 410,
    });

    /// <summary>As the API server: the service account's bearer token, or 401.</summary>
    private static bool Authorized(HttpContext context)
    {
        if (context.Request.Headers.Authorization == $"Bearer {Token}")
            return true;
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        return false;
    }

    private async Task Pods(HttpContext context)
    {
        if (!Authorized(context))
            return;
        var query = context.Request.Query;
        var node = query["fieldSelector"].ToString() is var selector && selector.StartsWith("spec.nodeName=", StringComparison.Ordinal)
            ? selector["spec.nodeName=".Length..]
            : null;
        bool OnNode(JsonObject pod) => node is null || pod["spec"]!["nodeName"]!.GetValue<string>() == node;
        var rv = query["resourceVersion"].ToString();
        if (query["watch"] == "true" || query["watch"] == "1")
        {
            Requests.Enqueue($"watch rv={rv} bookmarks={query["allowWatchBookmarks"]}");
            await Watch(context, rv, OnNode);
            return;
        }
        Requests.Enqueue("list");
        JsonObject list;
        lock (_gate)
        {
            list = new JsonObject
            {
                ["kind"] = "PodList",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject { ["resourceVersion"] = _resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                ["items"] = new JsonArray([.. _pods.Values.Where(OnNode).Select(p => p.DeepClone())]),
            };
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(list.ToJsonString());
    }

    private async Task OnePod(HttpContext context, string ns, string name)
    {
        if (!Authorized(context))
            return;
        Requests.Enqueue($"get {ns}/{name}");
        JsonObject? pod;
        lock (_gate)
            pod = _pods.Values.FirstOrDefault(p => p["metadata"]!["namespace"]!.GetValue<string>() == ns && p["metadata"]!["name"]!.GetValue<string>() == name);
        context.Response.ContentType = "application/json";
        if (pod is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync(NotFound($"pods \"{name}\""));
            return;
        }
        await context.Response.WriteAsync(pod.ToJsonString());
    }

    /// <summary>GET an object by its path: 200 with it, or 404 with the API's NotFound Status.</summary>
    private async Task OneObject(HttpContext context)
    {
        if (!Authorized(context))
            return;
        var path = context.Request.Path.Value!;
        Requests.Enqueue($"get {path}");
        JsonObject? item;
        lock (_gate)
            item = _objects.GetValueOrDefault(path)?.DeepClone().AsObject();
        context.Response.ContentType = "application/json";
        if (item is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync(NotFound($"\"{path[(path.LastIndexOf('/') + 1)..]}\""));
            return;
        }
        await context.Response.WriteAsync(item.ToJsonString());
    }

    /// <summary>GET the EndpointSlices of a namespace matching a label selector of the one shape clients use here: KEY=VALUE.</summary>
    private async Task EndpointSlices(HttpContext context, string ns)
    {
        if (!Authorized(context))
            return;
        var selector = context.Request.Query["labelSelector"].ToString();
        Requests.Enqueue($"list endpointslices {ns} {selector}");
        var (key, value) = selector.Split('=', 2) is [var k, var v] ? (k, v) : (selector, "");
        JsonObject list;
        lock (_gate)
        {
            list = new JsonObject
            {
                ["kind"] = "EndpointSliceList", ["apiVersion"] = "discovery.k8s.io/v1",
                ["metadata"] = new JsonObject { ["resourceVersion"] = _resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                ["items"] = new JsonArray([.. _endpointSlices
                    .Where(s => s["metadata"]!["namespace"]!.GetValue<string>() == ns && s["metadata"]!["labels"]?[key]?.GetValue<string>() == value)
                    .Select(s => s.DeepClone())]),
            };
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(list.ToJsonString());
    }

    /// <summary>The API's NotFound Status: "<paramref name="what"/> not found".</summary>
    private static string NotFound(string what) => new JsonObject
    {
        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
        ["message"] = $"{what} not found", ["reason"] = "NotFound", ["code"] = 404,
    }.ToJsonString();

    /// <summary>POST an Event: 201 with it, or 409 when one of that name exists.</summary>
    private async Task CreateEvent(HttpContext context, string ns)
    {
        if (!Authorized(context))
            return;
        var body = (JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!;
        var name = body["metadata"]?["name"]?.GetValue<string>() ?? "";
        Requests.Enqueue($"create event {ns}/{name}");
        lock (_gate)
        {
            if (_events.ContainsKey($"{ns}/{name}"))
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }
            body["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _events[$"{ns}/{name}"] = body;
        }
        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    /// <summary>PATCH (a JSON merge patch) or PUT an Event: 200 with it, or 404 when there is none of that name.</summary>
    private async Task ChangeEvent(HttpContext context, string ns, string name)
    {
        if (!Authorized(context))
            return;
        var body = (JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!;
        var patch = context.Request.Method == "PATCH";
        Requests.Enqueue($"{(patch ? "patch" : "replace")} event {ns}/{name} {context.Request.ContentType}");
        JsonObject result;
        lock (_gate)
        {
            if (!_events.TryGetValue($"{ns}/{name}", out var existing))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            if (patch)
            {
                foreach (var (key, value) in body)
                    existing[key] = value?.DeepClone();
            }
            else
            {
                _events[$"{ns}/{name}"] = existing = body;
            }
            result = existing;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(result.ToJsonString());
    }

    private async Task Watch(HttpContext context, string rv, Func<JsonObject, bool> onNode)
    {
        var channel = Channel.CreateUnbounded<string>();
        lock (_gate)
        {
            if (!long.TryParse(rv, out var from) || from < _oldestWatchable)
            {
                channel.Writer.TryWrite(Gone()); // a real apiserver answers 200 and an ERROR event, then closes
                channel.Writer.TryComplete();
            }
            else
            {
                _watches.Add(channel);
            }
        }
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        try
        {
            await foreach (var line in channel.Reader.ReadAllAsync(context.RequestAborted))
            {
                if (line.Contains("\"ERROR\"", StringComparison.Ordinal) || line.Contains("\"BOOKMARK\"", StringComparison.Ordinal) ||
                    onNode((JsonObject)JsonNode.Parse(line)!["object"]!))
                {
                    await context.Response.WriteAsync(line + "\n", Encoding.UTF8);
                    await context.Response.Body.FlushAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the client went away
        }
        finally
        {
            lock (_gate)
                _watches.Remove(channel);
        }
    }

    public async ValueTask DisposeAsync()
    {
        DropWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _listener.Dispose();
    }
}

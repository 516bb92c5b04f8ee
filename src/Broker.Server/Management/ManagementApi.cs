using Broker.PluginHost;
using System.Globalization;
using Broker.Abstractions;
using Broker.Core.Hosting;
using Broker.Core.AccessControl;
using Broker.Core.Sys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Server.Management;

/// <summary>
/// The management HTTP API under <c>/api/v4</c>, in EMQX 4's shape: HTTP basic authentication with the
/// application id and secret, JSON answers <c>{"code":0,"data":...}</c>, errors <c>{"code":n,"message":"..."}</c>
/// with 400 (bad parameters or JSON), 401 (credentials) or 404 (unknown path, client, ...). <c>ctl</c> talks to
/// nothing else. Serialisation is source-generated (<see cref="ManagementJsonContext"/>).
/// </summary>
/// <remarks>
/// In a cluster, the lists EMQX answers for every node (clients, subscriptions, routes, stats, metrics, nodes,
/// brokers) hold every node's, gathered as <c>ManagementApi.Cluster.cs</c> says; the rest is this node's. Further
/// endpoint groups (plugins, routes, listeners, publish) are added as <c>Map*</c> methods on
/// <see cref="RouteGroupBuilder"/> "api", which already carries the authentication.
/// </remarks>
internal static partial class ManagementApi
{
    /// <summary>EMQX 4's default and largest page size.</summary>
    public const int MaxLimit = 10000;

    public const string Prefix = "/api/v4";

    /// <summary>Services the endpoints need on an empty <c>WebApplication</c> builder.</summary>
    public static void AddServices(IServiceCollection services) => services.AddRoutingCore();

    /// <summary>Maps every management endpoint; returns the authenticated <c>/api/v4</c> group for more.</summary>
    public static RouteGroupBuilder Map(
        IEndpointRouteBuilder app, BrokerCore core, ManagementCredentials credentials, PluginManager? plugins = null, BuiltinAccessControl? accessControl = null,
        Cluster.ClusterMembership? cluster = null)
    {
        var logger = app.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("Broker.Server.Management") ?? NullLogger.Instance;

        // EMQX's unauthenticated health check, for load balancers and init scripts.
        app.MapGet("/status", () => Results.Text(
            $"Node {core.Status.NodeName} is started\nbroker is {(core.Status.IsShuttingDown ? "not_running" : "running")}\n",
            statusCode: core.Status.IsShuttingDown ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK));

        var throttle = new SignInThrottle(core.TimeProvider, logger);
        Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> requireCredentials = async (context, next) =>
        {
            var http = context.HttpContext;
            var address = http.Connection.RemoteIpAddress;
            if (throttle.Blocked(address) is var wait && wait > TimeSpan.Zero)
            {
                http.Response.Headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Error(StatusCodes.Status429TooManyRequests, ApiCodes.BadCredentials, "too many failed sign-ins from this address: try again later");
            }
            if (credentials.IsAuthorized(http.Request.Headers.Authorization))
                return await next(context).ConfigureAwait(false);
            throttle.Failed(address);
            http.Response.Headers.WWWAuthenticate = "Basic realm=\"broker management\", charset=\"UTF-8\"";
            return Error(StatusCodes.Status401Unauthorized, ApiCodes.BadCredentials, "wrong or missing application id/secret (HTTP basic authentication)");
        };
        var api = app.MapGroup(Prefix);
        api.AddEndpointFilter(requireCredentials);
        // Prometheus' default metrics_path, with the same credentials (basic_auth in the scrape config).
        MapPrometheus(app, "/metrics", core.Status).AddEndpointFilter(requireCredentials);

        if (cluster is not null)
            cluster.QueryHandler = (question, _) => AnswerAsync(core, plugins, question, logger);

        // EMQX 4's lists answer for the whole cluster; /nodes/{node}/... for one node (ManagementApi.Cluster).
        api.MapGet("/brokers", (CancellationToken cancel) => ListNodesAsync(core, cluster, null, brokers: true, cancel));
        api.MapGet("/brokers/{node}", (string node, CancellationToken cancel) => ListNodesAsync(core, cluster, node, brokers: true, cancel));
        api.MapGet("/nodes", (CancellationToken cancel) => ListNodesAsync(core, cluster, null, brokers: false, cancel));
        api.MapGet("/nodes/{node}", (string node, CancellationToken cancel) => ListNodesAsync(core, cluster, node, brokers: false, cancel));
        api.MapGet("/stats", (HttpRequest request, CancellationToken cancel) => ListCountersAsync(core, cluster, request, null, metrics: false, cancel));
        api.MapGet("/nodes/{node}/stats", (HttpRequest request, string node, CancellationToken cancel) => ListCountersAsync(core, cluster, request, node, metrics: false, cancel));
        api.MapGet("/metrics", (HttpRequest request, CancellationToken cancel) => ListCountersAsync(core, cluster, request, null, metrics: true, cancel));
        api.MapGet("/nodes/{node}/metrics", (HttpRequest request, string node, CancellationToken cancel) => ListCountersAsync(core, cluster, request, node, metrics: true, cancel));

        api.MapGet("/clients", (HttpRequest request, CancellationToken cancel) => ListClientsAsync(core, cluster, request, null, null, cancel));
        api.MapGet("/nodes/{node}/clients", (HttpRequest request, string node, CancellationToken cancel) => ListClientsAsync(core, cluster, request, node, null, cancel));
        api.MapGet("/clients/{clientid}", (HttpRequest request, string clientid, CancellationToken cancel) => ListClientsAsync(core, cluster, request, null, clientid, cancel));
        api.MapGet("/nodes/{node}/clients/{clientid}", (HttpRequest request, string node, string clientid, CancellationToken cancel) =>
            ListClientsAsync(core, cluster, request, node, clientid, cancel));
        api.MapDelete("/clients/{clientid}", (string clientid, CancellationToken cancel) => KickAsync(core, cluster, clientid, cancel));

        api.MapGet("/subscriptions", (HttpRequest request, CancellationToken cancel) =>
            ListSubscriptionsAsync(core, cluster, request, null, request.Query["clientid"].ToString(), cancel));
        api.MapGet("/subscriptions/{clientid}", (HttpRequest request, string clientid, CancellationToken cancel) =>
            ListSubscriptionsAsync(core, cluster, request, null, clientid, cancel));
        api.MapGet("/nodes/{node}/subscriptions", (HttpRequest request, string node, CancellationToken cancel) =>
            ListSubscriptionsAsync(core, cluster, request, node, request.Query["clientid"].ToString(), cancel));
        api.MapGet("/nodes/{node}/subscriptions/{clientid}", (HttpRequest request, string node, string clientid, CancellationToken cancel) =>
            ListSubscriptionsAsync(core, cluster, request, node, clientid, cancel));

        MapRoutes(api, core, cluster);
        // EMQX 5's /api/v5/nodes: every node of the cluster (this one alone when clustering is off), same credentials;
        // and the membership changes ctl cluster join/leave/force-leave make.
        var v5 = app.MapGroup("/api/v5");
        v5.AddEndpointFilter(requireCredentials);
        MapCluster(v5, core, cluster);
        MapMqtt(api, core, cluster, logger);
        MapPrometheus(api, "/prometheus", core.Status);
        MapTrace(api, core.Access);
        MapAlarms(api, core, cluster);
        MapBanned(api, core);
        MapAclCache(api, core.Clients);
        if (plugins is not null)
            MapPlugins(api, plugins, core, cluster, logger);
        if (accessControl is not null)
            MapAcl(api, accessControl, logger);

        // Anything else under /api/v4 is a plugin's root endpoint (IPluginHttp.MapRoot), or a JSON 404, not an empty one;
        // either is authenticated like the rest.
        // "{**path}", not MapFallback's default "{*path:nonfile}": a last segment with a dot (a user name alice.smith) is a
        // path like any other here, not a file name.
        api.MapFallback("{**path}", (HttpContext http, HttpRequest request) => ServeRootPluginAsync(http, core.PluginEndpoints, logger)
            ?? Task.FromResult(Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no endpoint {request.Method} {request.Path}")));
        // Read when a plugin first maps a root endpoint, by which time the caller has mapped whatever it adds to the group.
        core.PluginEndpoints.ReserveRoot(() => OwnPatterns(app));
        return api;
    }

    private static async Task<IResult> ListClientsAsync(
        BrokerCore core, Cluster.ClusterMembership? cluster, HttpRequest request, string? node, string? clientId, CancellationToken cancel)
    {
        if (!TryPage(request, out var page, out var limit, out var error) || !TryScope(core, cluster, node, out var scope, out error))
            return error;
        var query = clientId is null ? request.Query : new QueryCollection(new Dictionary<string, Microsoft.Extensions.Primitives.StringValues> { ["clientid"] = clientId });
        var take = (int)Math.Min((long)page * limit, int.MaxValue);
        var all = new List<ClientView>();
        var count = 0;
        if (scope.Self)
            all.AddRange(LocalClients(core, query, take, out count));
        var gathered = await GatherAsync(cluster, scope, new ClusterQuestion { Op = "clients", Query = QueryString.Create(query).Value, Take = take }, cancel).ConfigureAwait(false);
        foreach (var (_, answer) in gathered.Answers)
        {
            all.AddRange(answer.Clients ?? []);
            count += answer.Count;
        }
        if (clientId is not null && all.Count == 0)
            return Error(StatusCodes.Status404NotFound, ApiCodes.ClientNotFound, $"no client '{clientId}'" + Missing(gathered));
        all.Sort(static (a, b) => string.CompareOrdinal(a.Clientid, b.Clientid) is var byId and not 0 ? byId : string.CompareOrdinal(a.Node, b.Node));
        var slice = Slice(all, page, limit, count, out var meta);
        return Ok([.. slice], ManagementJsonContext.Default.ApiResponseClientViewArray, clientId is null ? meta : null, gathered.Errors);
    }

    /// <summary>
    /// This node's sessions, connected or not, matching EMQX 4's client filters: <c>clientid</c>, <c>username</c>, and the
    /// fuzzy <c>_like_clientid</c> / <c>_like_username</c> (substrings, the dashboard's search box); sorted by client id,
    /// the first <paramref name="take"/>; <paramref name="count"/> = all that match.
    /// </summary>
    private static List<ClientView> LocalClients(BrokerCore core, IQueryCollection query, int take, out int count)
    {
        var clientId = query["clientid"].ToString();
        var username = query["username"].ToString();
        var likeClientId = query["_like_clientid"].ToString();
        var likeUsername = query["_like_username"].ToString();
        var matching = new List<SessionSnapshot>();
        if (clientId.Length > 0)
        {
            if (core.Clients.Find(clientId) is { } one && Matches(one))
                matching.Add(one);
        }
        else
        {
            foreach (var session in core.Clients.All())
            {
                if (Matches(session))
                    matching.Add(session);
            }
        }

        bool Matches(SessionSnapshot session) =>
            (username.Length == 0 || session.Client?.Username == username)
            && (likeClientId.Length == 0 || session.ClientId.Contains(likeClientId, StringComparison.Ordinal))
            && (likeUsername.Length == 0 || (session.Client?.Username?.Contains(likeUsername, StringComparison.Ordinal) ?? false));
        matching.Sort(static (a, b) => string.CompareOrdinal(a.ClientId, b.ClientId));
        count = matching.Count;
        var views = new List<ClientView>(Math.Min(take, count));
        for (var i = 0; i < Math.Min(take, count); i++)
            views.Add(ClientViewOf(core, matching[i]));
        return views;
    }

    /// <summary>EMQX 4 kicks a client wherever it is connected: here, and every other node is asked to (the same client id may be on two).</summary>
    private static async Task<IResult> KickAsync(BrokerCore core, Cluster.ClusterMembership? cluster, string clientId, CancellationToken cancel)
    {
        var kicked = await core.Clients.KickAsync(clientId).ConfigureAwait(false);
        var gathered = await GatherAsync(cluster, new Scope(false, true, null), new ClusterQuestion { Op = "kick", Clientid = clientId }, cancel).ConfigureAwait(false);
        kicked |= gathered.Answers.Any(a => a.Answer.Count > 0);
        return kicked ? Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk)
            : Error(StatusCodes.Status404NotFound, ApiCodes.ClientNotFound, $"no client '{clientId}'" + Missing(gathered));
    }

    private static async Task<IResult> ListSubscriptionsAsync(
        BrokerCore core, Cluster.ClusterMembership? cluster, HttpRequest request, string? node, string clientId, CancellationToken cancel)
    {
        if (!TryPage(request, out var page, out var limit, out var error) || !TryScope(core, cluster, node, out var scope, out error))
            return error;
        var take = (int)Math.Min((long)page * limit, int.MaxValue);
        // This node's part first, even when it is not asked for: it validates the filters before any other node is asked.
        if (!TryLocalSubscriptions(core, request.Query, clientId, scope.Self ? take : 0, out var all, out var count, out error))
            return error;
        if (!scope.Self)
            count = 0;
        var gathered = await GatherAsync(cluster, scope,
            new ClusterQuestion { Op = "subscriptions", Query = request.QueryString.Value, Clientid = clientId, Take = take }, cancel).ConfigureAwait(false);
        foreach (var (_, answer) in gathered.Answers)
        {
            all.AddRange(answer.Subscriptions ?? []);
            count += answer.Count;
        }
        all.Sort(static (a, b) => string.CompareOrdinal(a.Clientid, b.Clientid) is var byId and not 0 ? byId
            : string.CompareOrdinal(a.Topic, b.Topic) is var byTopic and not 0 ? byTopic
            : string.CompareOrdinal(a.Node, b.Node));
        var slice = Slice(all, page, limit, count, out var meta);
        return Ok([.. slice], ManagementJsonContext.Default.ApiResponseSubscriptionViewArray, meta, gathered.Errors);
    }

    /// <summary>This node's subscriptions (of <paramref name="clientId"/>, if given) matching the filters, sorted, the first <paramref name="take"/>.</summary>
    private static bool TryLocalSubscriptions(
        BrokerCore core, IQueryCollection query, string clientId, int take, out List<SubscriptionView> views, out int count, out IResult error)
    {
        views = [];
        count = 0;
        // An unknown client simply has no subscriptions, as in EMQX.
        var all = core.Clients.Subscriptions(clientId.Length > 0 ? clientId : null);
        if (!TryFilterSubscriptions(query, all, out error))
            return false;
        all.Sort(static (a, b) =>
        {
            var byClient = string.CompareOrdinal(a.ClientId, b.ClientId);
            return byClient != 0 ? byClient : string.CompareOrdinal(a.TopicFilter, b.TopicFilter);
        });
        count = all.Count;
        var node = core.Status.NodeName;
        for (var i = 0; i < Math.Min(take, all.Count); i++)
        {
            var s = all[i];
            views.Add(new SubscriptionView
            {
                Node = node,
                Clientid = s.ClientId,
                Topic = s.TopicFilter,
                Qos = (int)s.Options.Qos,
                Nl = s.Options.NoLocal,
                Rap = s.Options.RetainAsPublished,
                Rh = (int)s.Options.RetainHandling,
            });
        }
        return true;
    }

    /// <summary>
    /// EMQX 4's <c>/stats</c> (<c>[{node, stats}]</c>) or <c>/metrics</c> (<c>[{node, metrics}]</c>): one entry per node;
    /// with <c>aggregate=true</c>, as EMQX, one object of the sums over the nodes that answered.
    /// </summary>
    private static async Task<IResult> ListCountersAsync(
        BrokerCore core, Cluster.ClusterMembership? cluster, HttpRequest request, string? node, bool metrics, CancellationToken cancel)
    {
        var aggregateText = request.Query["aggregate"].ToString();
        if (aggregateText is not ("" or "true" or "false"))
            return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"aggregate must be true or false, not '{aggregateText}'");
        if (!TryScope(core, cluster, node, out var scope, out var error))
            return error;
        var parts = new List<(string Node, Dictionary<string, long> Values)>();
        if (scope.Self)
            parts.Add((core.Status.NodeName, metrics ? core.Status.Metrics() : core.Status.Stats()));
        var gathered = await GatherAsync(cluster, scope, new ClusterQuestion { Op = metrics ? "metrics" : "stats" }, cancel).ConfigureAwait(false);
        foreach (var (name, answer) in gathered.Answers)
            parts.Add((name, (metrics ? answer.Metrics : answer.Stats) ?? []));
        if (aggregateText == "true")
        {
            var sums = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var (_, values) in parts)
            {
                foreach (var (key, value) in values)
                    sums[key] = sums.GetValueOrDefault(key) + value;
            }
            return Ok(new Dictionary<string, long>(sums), ManagementJsonContext.Default.ApiResponseDictionaryStringInt64, null, gathered.Errors);
        }
        return metrics
            ? Ok([.. parts.Select(p => new NodeMetrics { Node = p.Node, Metrics = p.Values })], ManagementJsonContext.Default.ApiResponseNodeMetricsArray, null, gathered.Errors)
            : Ok([.. parts.Select(p => new NodeStats { Node = p.Node, Stats = p.Values })], ManagementJsonContext.Default.ApiResponseNodeStatsArray, null, gathered.Errors);
    }

    /// <summary>EMQX 4's <c>/nodes</c> and <c>/brokers</c> (and <c>/{node}</c>): one entry per running node.</summary>
    private static async Task<IResult> ListNodesAsync(BrokerCore core, Cluster.ClusterMembership? cluster, string? node, bool brokers, CancellationToken cancel)
    {
        if (!TryScope(core, cluster, node, out var scope, out var error))
            return error;
        var gathered = await GatherAsync(cluster, scope, new ClusterQuestion { Op = "node" }, cancel).ConfigureAwait(false);
        if (brokers)
        {
            var all = new List<BrokerInfo>();
            if (scope.Self)
                all.Add(BrokerInfoOf(core));
            all.AddRange(gathered.Answers.Select(a => a.Answer.Broker).OfType<BrokerInfo>());
            return Ok([.. all], ManagementJsonContext.Default.ApiResponseBrokerInfoArray, null, gathered.Errors);
        }
        var nodes = new List<NodeInfo>();
        if (scope.Self)
            nodes.Add(NodeInfoOf(core));
        nodes.AddRange(gathered.Answers.Select(a => a.Answer.Node).OfType<NodeInfo>());
        return Ok([.. nodes], ManagementJsonContext.Default.ApiResponseNodeInfoArray, null, gathered.Errors);
    }

    /// <summary>For a "not found": which nodes could not say.</summary>
    private static string Missing(Gathered gathered) =>
        gathered.Errors is { } errors ? " (not asked or not answering: " + string.Join(", ", errors.Select(e => $"{e.Node}: {e.Error}")) + ")" : "";

    /// <summary>
    /// EMQX 4's subscription filters: <c>topic</c> (the filter as subscribed, share prefix included), <c>qos</c>,
    /// <c>share</c> (share group name; <c>$queue</c> for <c>$queue/</c>), <c>_match_topic</c> (filters that a message
    /// to this topic name would match). A bad value is a 400 naming the parameter.
    /// </summary>
    private static bool TryFilterSubscriptions(IQueryCollection query, List<SubscriptionEntry> all, out IResult error)
    {
        error = Results.Empty;
        var topic = query["topic"].ToString();
        var qosText = query["qos"].ToString();
        var share = query["share"].ToString();
        var match = query["_match_topic"].ToString();
        var qos = -1;
        if (qosText.Length > 0 && (!int.TryParse(qosText, NumberStyles.None, CultureInfo.InvariantCulture, out qos) || qos > 2))
        {
            error = Error(StatusCodes.Status400BadRequest, ApiCodes.BadQos, $"qos must be 0, 1 or 2, not '{qosText}'");
            return false;
        }
        if (match.Length > 0 && !Protocol.MqttTopic.IsValidTopicName(match))
        {
            error = Error(StatusCodes.Status400BadRequest, ApiCodes.BadTopic, $"_match_topic must be a topic name without wildcards, not '{match}'");
            return false;
        }
        if (topic.Length == 0 && qos < 0 && share.Length == 0 && match.Length == 0)
            return true;
        all.RemoveAll(s =>
        {
            if (topic.Length > 0 && s.TopicFilter != topic)
                return true;
            if (qos >= 0 && (int)s.Options.Qos != qos)
                return true;
            var shared = Protocol.MqttTopic.TryParseShared(s.TopicFilter, out var group, out var filter);
            if (share.Length > 0 && (!shared || (group ?? "$queue") != share))
                return true;
            return match.Length > 0 && !Protocol.MqttTopic.Matches(filter, match);
        });
        return true;
    }

    /// <summary>Reads <c>_page</c> (from 1) and <c>_limit</c> (1 to <see cref="MaxLimit"/>); a bad one is a 400.</summary>
    internal static bool TryPage(HttpRequest request, out int page, out int limit, out IResult error)
    {
        page = 1;
        limit = MaxLimit;
        error = Results.Empty;
        var pageText = request.Query["_page"].ToString();
        var limitText = request.Query["_limit"].ToString();
        if (pageText.Length > 0 && (!int.TryParse(pageText, NumberStyles.None, CultureInfo.InvariantCulture, out page) || page < 1))
        {
            error = Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"_page must be a whole number from 1, not '{pageText}'");
            return false;
        }
        if (limitText.Length > 0 && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > MaxLimit))
        {
            error = Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"_limit must be a whole number from 1 to {MaxLimit}, not '{limitText}'");
            return false;
        }
        return true;
    }

    private static List<T> Slice<T>(List<T> all, int page, int limit, out PageMeta meta) => Slice(all, page, limit, all.Count, out meta);

    /// <summary>Page <paramref name="page"/> of <paramref name="all"/>, which holds at least the first page × limit of <paramref name="count"/> items.</summary>
    private static List<T> Slice<T>(List<T> all, int page, int limit, int count, out PageMeta meta)
    {
        var start = (long)(page - 1) * limit;
        var slice = start >= all.Count ? [] : all.GetRange((int)start, (int)Math.Min(limit, all.Count - start));
        meta = new PageMeta { Page = page, Limit = limit, Count = count, Hasnext = start + slice.Count < count };
        return slice;
    }

    private static BrokerInfo BrokerInfoOf(BrokerCore core)
    {
        var now = core.Status.Now;
        return new BrokerInfo
        {
            Node = core.Status.NodeName,
            Version = SysPublisher.Version,
            Uptime = SysPublisher.FormatUptime(now - core.Status.StartedAt),
            Datetime = FormatTime(now),
            Sysdescr = SysPublisher.Description,
            NodeStatus = core.Status.IsShuttingDown ? "Stopping" : "Running",
        };
    }

    private static NodeInfo NodeInfoOf(BrokerCore core) => new()
    {
        Node = core.Status.NodeName,
        Version = SysPublisher.Version,
        Uptime = SysPublisher.FormatUptime(core.Status.Now - core.Status.StartedAt),
        NodeStatus = core.Status.IsShuttingDown ? "Stopping" : "Running",
        Connections = core.Status.Connections,
        ProcessId = Environment.ProcessId,
        MemoryUsed = Environment.WorkingSet,
    };

    private static ClientView ClientViewOf(BrokerCore core, SessionSnapshot session)
    {
        var client = session.Client;
        var version = client?.ProtocolVersion ?? MqttProtocolVersion.Unknown;
        var endPoint = client?.RemoteEndPoint;
        return new ClientView
        {
            Node = core.Status.NodeName,
            Clientid = session.ClientId,
            Username = client?.Username,
            ProtoName = version == MqttProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtoVer = (int)version,
            IpAddress = endPoint?.Address.ToString(),
            Port = endPoint?.Port,
            Connected = session.IsConnected,
            ConnectedAt = client is null ? null : FormatTime(client.ConnectedAt),
            Listener = client?.Listener ?? "",
            CleanStart = client?.CleanStart ?? false,
            Keepalive = client?.KeepAlive ?? 0,
            ExpiryInterval = session.ExpiryInterval,
            SubscriptionsCnt = session.SubscriptionCount,
            Inflight = session.InflightCount,
            MaxInflight = session.MaxInflight,
            MqueueLen = session.QueueLength,
            MqueueDropped = session.DroppedCount,
            SlowSubscriber = session.IsSlow,
            Persisted = session.IsPersisted,
            MaxMqueue = session.MaxQueueLength,
            MqueueBytes = session.QueuedBytes,
            MaxMqueueBytes = session.MaxQueueBytes,
            Qos0BacklogBytes = session.Qos0BacklogBytes,
        };
    }

    /// <summary>EMQX 4's timestamp format, UTC.</summary>
    private static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static IResult ClientNotFound(string clientId) =>
        Error(StatusCodes.Status404NotFound, ApiCodes.ClientNotFound, $"no client '{clientId}'");

    private static IResult Ok<T>(T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<ApiResponse<T>> type, PageMeta? meta = null, NodeError[]? nodeErrors = null) =>
        Results.Json(new ApiResponse<T> { Code = ApiCodes.Ok, Data = data, Meta = meta, NodeErrors = nodeErrors }, type);

    internal static IResult Error(int status, int code, string message) =>
        Results.Json(new ApiError { Code = code, Message = message }, ManagementJsonContext.Default.ApiError, statusCode: status);
}

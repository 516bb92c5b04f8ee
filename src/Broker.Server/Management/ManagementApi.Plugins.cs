using Broker.Abstractions.Plugins;
using Broker.Core.Hosting;
using Broker.Core.Plugins;
using Broker.PluginHost;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's plugin endpoints over the <see cref="PluginManager"/>: <c>GET /plugins</c>, <c>GET /plugins/{name}</c>,
    /// <c>PUT /plugins/{name}/load|unload|reload</c>. Failures answer with the plugin host's message: 404 for an
    /// unknown plugin, 409 for one already loaded / not loaded, 400 for a plugin that cannot be loaded as it is
    /// (manifest, SDK version, configuration with file:line:key), 500 when its start failed.
    /// </summary>
    private static void MapPlugins(RouteGroupBuilder api, PluginManager plugins, BrokerCore core, Cluster.ClusterMembership? cluster, ILogger logger)
    {
        var endpoints = core.PluginEndpoints;
        api.MapGet("/plugins", async () =>
        {
            var list = await plugins.ListAsync().ConfigureAwait(false);
            var views = new PluginView[list.Count];
            for (var i = 0; i < views.Length; i++)
                views[i] = PluginViewOf(list[i], endpoints);
            return Ok(views, ManagementJsonContext.Default.ApiResponsePluginViewArray);
        });
        api.MapGet("/plugins/{name}", async (string name) =>
        {
            foreach (var plugin in await plugins.ListAsync().ConfigureAwait(false))
            {
                if (plugin.Name == name)
                    return Ok(new[] { PluginViewOf(plugin, endpoints) }, ManagementJsonContext.Default.ApiResponsePluginViewArray);
            }
            return Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no plugin named '{name}'");
        });
        // The plugin's .conf as it is now, with where each key was set; secrets masked (the dashboard's Plugins page).
        api.MapGet("/plugins/{name}/config", async (string name) =>
        {
            if (!(await plugins.ListAsync().ConfigureAwait(false)).Any(p => p.Name == name))
                return Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no plugin named '{name}'");
            IReadOnlyList<(string Key, string Value, string? Origin)> entries;
            try
            {
                entries = plugins.ReadConfiguration(name);
            }
            catch (Exception ex) when (ex is Broker.Configuration.ConfigurationException or IOException or UnauthorizedAccessException)
            {
                return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, ex.Message);
            }
            return Ok([.. entries.Select(e => new PluginConfigEntry { Key = e.Key, Value = e.Value, Origin = e.Origin })],
                ManagementJsonContext.Default.ApiResponsePluginConfigEntryArray);
        });
        // Plugins' own endpoints (IPluginContext.Http), with this API's authentication; none once the plugin stopped.
        api.Map("/plugins/{name}/api/{**path}", (HttpContext http, string name, string? path) => ServePluginAsync(http, endpoints, name, path ?? "", logger));
        // As EMQX 4: /plugins/{name}/{action} on every node of the cluster, /nodes/{node}/plugins/{name}/{action} on one.
        foreach (var action in PluginActions)
        {
            api.MapPut($"/plugins/{{name}}/{action}", (string name, CancellationToken cancel) =>
                PluginActionAsync(core, plugins, cluster, null, name, action, cancel));
            api.MapPut($"/nodes/{{node}}/plugins/{{name}}/{action}", (string node, string name, CancellationToken cancel) =>
                PluginActionAsync(core, plugins, cluster, node, name, action, cancel));
        }
    }

    private static readonly string[] PluginActions = ["load", "unload", "reload"];

    private static Task<PluginResult> ActAsync(PluginManager plugins, string name, string action) => action switch
    {
        "load" => plugins.LoadAsync(name),
        "unload" => plugins.UnloadAsync(name),
        _ => plugins.ReloadAsync(name),
    };

    /// <summary>
    /// A load, unload or reload on the nodes of the scope, this one first. One node asked: its answer as it is (the
    /// plugin, or 404/409/400/500 with the plugin host's message). Several: 200 with the plugin as each node that
    /// succeeded has it, and each node that failed (or did not answer) in <c>node_errors</c>; the first failure's
    /// status and message when none succeeded.
    /// </summary>
    private static async Task<IResult> PluginActionAsync(
        BrokerCore core, PluginManager plugins, Cluster.ClusterMembership? cluster, string? node, string name, string action, CancellationToken cancel)
    {
        if (!TryScope(core, cluster, node, out var scope, out var error))
            return error;
        var views = new List<PluginView>();
        var errors = new List<NodeError>();
        IResult? firstFailure = null;
        var asked = 0;
        if (scope.Self)
        {
            asked++;
            var result = await ActAsync(plugins, name, action).ConfigureAwait(false);
            if (result.Error == PluginError.None)
            {
                if (result.Plugin is { } plugin)
                    views.Add(PluginViewOf(plugin, core.PluginEndpoints, core.Status.NodeName));
            }
            else
            {
                firstFailure = ResultOf(result, core.PluginEndpoints);
                errors.Add(new NodeError { Node = core.Status.NodeName, Error = $"{action} failed: {result.Message}" });
            }
        }
        var gathered = await GatherAsync(cluster, scope, new ClusterQuestion { Op = "plugin", Plugin = name, Action = action }, cancel).ConfigureAwait(false);
        asked += gathered.Answers.Count + (gathered.Errors?.Length ?? 0);
        foreach (var (other, answer) in gathered.Answers)
        {
            if (answer.Error is { } failed)
            {
                firstFailure ??= Error(answer.Status, ApiCodes.BadParameter, failed);
                errors.Add(new NodeError { Node = other, Error = $"{action} failed: {failed}" });
            }
            else if (answer.Plugins is { } pluginViews)
            {
                views.AddRange(pluginViews);
            }
        }
        errors.AddRange(gathered.Errors ?? []);
        if (asked == 1 && firstFailure is not null)
            return firstFailure;
        if (views.Count == 0 && firstFailure is not null && errors.Count == asked)
            return firstFailure;
        return Ok([.. views], ManagementJsonContext.Default.ApiResponsePluginViewArray, null, errors.Count == 0 ? null : [.. errors]);
    }

    /// <summary>Another node's plugin action, done here (the other side of <see cref="PluginActionAsync"/>).</summary>
    private static async Task<ClusterAnswer> AnswerPluginActionAsync(BrokerCore core, PluginManager? plugins, ClusterQuestion question)
    {
        if (plugins is null || question.Plugin is not { } name || question.Action is not ("load" or "unload" or "reload") || question.Action is not { } action)
            throw new InvalidDataException("a plugin question without a plugin host, a plugin or a known action");
        var result = await ActAsync(plugins, name, action).ConfigureAwait(false);
        if (result.Error != PluginError.None)
            return new ClusterAnswer { Error = result.Message, Status = StatusOf(result.Error) };
        return new ClusterAnswer { Count = 1, Plugins = result.Plugin is { } plugin ? [PluginViewOf(plugin, core.PluginEndpoints, core.Status.NodeName)] : [] };
    }

    /// <summary>Largest request body a plugin endpoint is handed.</summary>
    private const int PluginBodyLimit = 1024 * 1024;

    /// <summary>One request to a plugin's endpoint: matched, read (body at most 1 MB), answered; a failing handler is 500.</summary>
    private static Task<IResult> ServePluginAsync(HttpContext http, PluginEndpoints endpoints, string name, string path, ILogger logger)
    {
        var method = http.Request.Method;
        if (!endpoints.TryMatch(name, method, path, out var handler, out var values))
            return Task.FromResult(Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"plugin '{name}' has no endpoint {method} {path}"));
        return InvokePluginAsync(http, name, path, handler!, values, logger);
    }

    /// <summary>
    /// A request under <c>/api/v4/</c> that none of the API's own endpoints serves: a plugin's root endpoint
    /// (<see cref="IPluginHttp.MapRoot"/>), or null. The path is split and decoded from the raw request target, so an
    /// encoded <c>/</c> (<c>%2F</c>, as in a topic) stays inside its segment.
    /// </summary>
    private static Task<IResult>? ServeRootPluginAsync(HttpContext http, PluginEndpoints endpoints, ILogger logger)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget is { } target && target.StartsWith(Prefix + "/", StringComparison.Ordinal)
            ? target
            : http.Request.Path.Value ?? "";
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        var below = (query < 0 ? raw : raw[..query])[Math.Min(raw.Length, Prefix.Length)..];
        var segments = below.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < segments.Length; i++)
            segments[i] = Uri.UnescapeDataString(segments[i]);
        if (!endpoints.TryMatchRoot(http.Request.Method, segments, out var plugin, out var handler, out var values))
            return null;
        return InvokePluginAsync(http, plugin, string.Join('/', segments), handler!, values, logger);
    }

    /// <summary>The patterns below <c>/api/v4/</c> this API serves (every mapped route but the fallback), which plugins may not take.</summary>
    private static IEnumerable<string> OwnPatterns(IEndpointRouteBuilder app)
    {
        foreach (var source in app.DataSources)
        {
            foreach (var endpoint in source.Endpoints)
            {
                if (endpoint is not RouteEndpoint route || route.Order == int.MaxValue) // the fallback
                    continue;
                var segments = route.RoutePattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => parameter.IsCatchAll ? $"{{**{parameter.Name}}}" : $"{{{parameter.Name}}}",
                    _ => "{x}",
                }))).ToArray();
                if (segments.Length > 2 && segments[0] == "api" && segments[1] == "v4")
                    yield return string.Join('/', segments[2..]);
            }
        }
    }

    private static async Task<IResult> InvokePluginAsync(HttpContext http, string name, string path,
        Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler, Dictionary<string, string> values, ILogger logger)
    {
        var method = http.Request.Method;
        if (http.Request.ContentLength > PluginBodyLimit)
            return Error(StatusCodes.Status413PayloadTooLarge, ApiCodes.BadParameter, $"the body is over {PluginBodyLimit} bytes");
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body, http.RequestAborted).ConfigureAwait(false);
        if (body.Length > PluginBodyLimit)
            return Error(StatusCodes.Status413PayloadTooLarge, ApiCodes.BadParameter, $"the body is over {PluginBodyLimit} bytes");
        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in http.Request.Query)
            query[key] = value.ToString();
        var request = new PluginHttpRequest
        {
            Method = method,
            Path = path,
            RouteValues = values,
            Query = query,
            ContentType = http.Request.ContentType,
            Body = body.ToArray(),
        };
        try
        {
            var response = await handler(request, http.RequestAborted).ConfigureAwait(false);
            http.Response.StatusCode = response.StatusCode;
            return Results.Bytes(response.Body.ToArray(), response.ContentType);
        }
        catch (Exception ex) when (!http.RequestAborted.IsCancellationRequested)
        {
            LogPluginEndpointFailed(logger, ex, name, method, path);
            return Error(StatusCodes.Status500InternalServerError, ApiCodes.UnknownError, $"plugin '{name}' failed to answer {method} {path}: {ex.Message}");
        }
    }

    [LoggerMessage(EventId = 45, Level = LogLevel.Error, Message = "Plugin {Plugin}'s endpoint {Method} {Path} failed")]
    private static partial void LogPluginEndpointFailed(ILogger logger, Exception ex, string plugin, string method, string path);

    private static IResult ResultOf(PluginResult result, PluginEndpoints endpoints) => result.Error switch
    {
        PluginError.None => result.Plugin is { } plugin
            ? Ok(new[] { PluginViewOf(plugin, endpoints) }, ManagementJsonContext.Default.ApiResponsePluginViewArray)
            : Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk),
        PluginError.UnknownPlugin => Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, result.Message),
        PluginError.StartFailed => Error(StatusCodes.Status500InternalServerError, ApiCodes.UnknownError, result.Message),
        var other => Error(StatusOf(other), ApiCodes.BadParameter, result.Message),
    };

    private static int StatusOf(PluginError error) => error switch
    {
        PluginError.UnknownPlugin => StatusCodes.Status404NotFound,
        PluginError.AlreadyLoaded or PluginError.NotLoaded => StatusCodes.Status409Conflict,
        PluginError.StartFailed => StatusCodes.Status500InternalServerError,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>A plugin's endpoints as <c>METHOD /api/v4/...</c>: those under its prefix, then those at the root.</summary>
    private static string[] EndpointsOf(string plugin, PluginEndpoints endpoints) =>
    [
        .. endpoints.Describe(plugin).Select(e => $"{e[..e.IndexOf(' ')]} {Prefix}/plugins/{plugin}/api/{e[(e.IndexOf(' ') + 1)..]}"),
        .. endpoints.DescribeRoot(plugin).Select(e => $"{e[..e.IndexOf(' ')]} {Prefix}/{e[(e.IndexOf(' ') + 1)..]}"),
    ];

    private static PluginView PluginViewOf(PluginInfo plugin, PluginEndpoints endpoints, string? node = null) => new()
    {
        Node = node,
        Endpoints = EndpointsOf(plugin.Name, endpoints) is { Length: > 0 } mapped ? mapped : null,
        Name = plugin.Name,
        Version = plugin.Version,
        Description = plugin.Description,
        Active = plugin.State == PluginState.Running,
        State = plugin.State.ToString().ToLowerInvariant(),
        Reason = plugin.Reason.Length == 0 ? null : plugin.Reason,
        Boot = plugin.StartsAtBoot,
        HookFailures = plugin.Hooks.Failures,
        HookCalls = plugin.Hooks.Calls,
        HookTimeMs = Math.Round(plugin.Hooks.Time.TotalMilliseconds, 3),
        HookOffloadedCalls = plugin.Hooks.OffloadedCalls,
        LeakedInstances = plugin.LeakedInstances,
    };
}

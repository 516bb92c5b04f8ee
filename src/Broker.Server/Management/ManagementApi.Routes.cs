using Broker.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's <c>GET /routes</c> (paged like clients) and <c>GET /routes/{topic}</c>: the topic filters with at least
    /// one subscriber (share prefix removed, as EMQX routes them), each with this node. The filter in the path is
    /// URL-encoded (<c>a%2Fb%2F%23</c>), or written with its slashes (<c>/routes/a/b/%23</c>). Plugins' internal
    /// subscriptions (bridges...) route messages too, so their filters are listed with the clients'.
    /// </summary>
    private static void MapRoutes(RouteGroupBuilder api, BrokerEngine engine)
    {
        api.MapGet("/routes", (HttpRequest request) =>
        {
            if (!TryPage(request, out var page, out var limit, out var error))
                return error;
            var slice = Slice(AllRouteFilters(engine), page, limit, out var meta);
            return Ok(RouteViewsOf(engine, slice), ManagementJsonContext.Default.ApiResponseRouteViewArray, meta);
        });
        api.MapGet("/routes/{**topic}", (string topic) =>
        {
            // Kestrel leaves %2F encoded in the path (it would be a separator otherwise); everything else is decoded.
            topic = topic.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
            var found = AllRouteFilters(engine).Contains(topic) ? new List<string> { topic } : [];
            return Ok(RouteViewsOf(engine, found), ManagementJsonContext.Default.ApiResponseRouteViewArray);
        });
    }

    /// <summary>Every routed filter, clients' and plugins' internal subscriptions', once each, sorted.</summary>
    internal static List<string> AllRouteFilters(BrokerEngine engine)
    {
        var filters = engine.Router.RouteFilters();
        if (engine.InternalSubscriptions.Count == 0)
            return filters;
        var all = new SortedSet<string>(filters, StringComparer.Ordinal);
        all.UnionWith(engine.InternalSubscriptions.Filters);
        return [.. all];
    }

    private static RouteView[] RouteViewsOf(BrokerEngine engine, List<string> filters)
    {
        var node = engine.BrokerOptions.NodeName;
        var views = new RouteView[filters.Count];
        for (var i = 0; i < views.Length; i++)
            views[i] = new RouteView { Topic = filters[i], Node = node };
        return views;
    }
}

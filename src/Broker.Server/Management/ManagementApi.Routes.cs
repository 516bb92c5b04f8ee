using Broker.Core.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's <c>GET /routes</c> (paged like clients) and <c>GET /routes/{topic}</c>: the topic filters with at least
    /// one subscriber (share prefix removed, as EMQX routes them), each with its node: this node's, and in a cluster
    /// every other node's as this node holds them (the replicated route table, so nobody is asked). The filter in the
    /// path is URL-encoded (<c>a%2Fb%2F%23</c>), or written with its slashes (<c>/routes/a/b/%23</c>). Plugins' internal
    /// subscriptions (bridges...) route messages too, so their filters are listed with the clients'.
    /// </summary>
    private static void MapRoutes(RouteGroupBuilder api, BrokerCore core, Cluster.ClusterMembership? cluster)
    {
        api.MapGet("/routes", (HttpRequest request) =>
        {
            if (!TryPage(request, out var page, out var limit, out var error))
                return error;
            var slice = Slice(AllRoutes(core, cluster), page, limit, out var meta);
            return Ok([.. slice], ManagementJsonContext.Default.ApiResponseRouteViewArray, meta);
        });
        api.MapGet("/routes/{**topic}", (string topic) =>
        {
            // Kestrel leaves %2F encoded in the path (it would be a separator otherwise); everything else is decoded.
            topic = topic.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
            return Ok([.. AllRoutes(core, cluster).Where(r => r.Topic == topic)], ManagementJsonContext.Default.ApiResponseRouteViewArray);
        });
    }

    /// <summary>Every route of the cluster, sorted by filter, then node.</summary>
    private static List<RouteView> AllRoutes(BrokerCore core, Cluster.ClusterMembership? cluster)
    {
        var node = core.Status.NodeName;
        var routes = core.Status.RouteFilters().ConvertAll(filter => new RouteView { Topic = filter, Node = node });
        if (cluster?.Node is { } others)
        {
            foreach (var (filter, other) in others.RemoteRoutes())
                routes.Add(new RouteView { Topic = filter, Node = other });
            routes.Sort(static (a, b) => string.CompareOrdinal(a.Topic, b.Topic) is var byTopic and not 0 ? byTopic : string.CompareOrdinal(a.Node, b.Node));
        }
        return routes;
    }
}

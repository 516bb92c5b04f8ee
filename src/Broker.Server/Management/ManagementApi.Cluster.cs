using Broker.Cluster;
using Broker.Core;
using Broker.Core.Sys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// <c>GET /api/v5/nodes</c>: the answering node first (its NATS connection, forwarding counters), then every other
    /// node it has heard of, running or down (EMQX keeps stopped nodes in its list too), with their uptime, connections
    /// (as of their last heartbeat) and the routes this node holds for them.
    /// </summary>
    private static void MapClusterNodes(RouteGroupBuilder v5, BrokerEngine engine, ClusterNode? cluster) =>
        v5.MapGet("/nodes", () => Ok(ClusterNodesOf(engine, cluster), ManagementJsonContext.Default.ApiResponseClusterNodeViewArray));

    internal static ClusterNodeView[] ClusterNodesOf(BrokerEngine engine, ClusterNode? cluster)
    {
        if (cluster is null)
        {
            var uptime = engine.Now - engine.StartedAt;
            return
            [
                new ClusterNodeView
                {
                    Node = engine.BrokerOptions.NodeName, Self = true, NodeStatus = engine.IsShuttingDown ? "stopping" : "running",
                    Uptime = SysPublisher.FormatUptime(uptime), UptimeSeconds = (long)uptime.TotalSeconds,
                    Connections = engine.Metrics.Connections, Routes = engine.Router.RouteCount, ForwardedIn = 0, ForwardDropped = 0,
                },
            ];
        }
        var status = cluster.Status();
        var views = new ClusterNodeView[status.Count];
        for (var i = 0; i < views.Length; i++)
        {
            var node = status[i];
            views[i] = new ClusterNodeView
            {
                Node = node.Name,
                Self = node.IsSelf,
                NodeStatus = node.IsSelf && engine.IsShuttingDown ? "stopping" : node.State,
                Uptime = SysPublisher.FormatUptime(node.Uptime),
                UptimeSeconds = (long)node.Uptime.TotalSeconds,
                Connections = node.Connections,
                Routes = node.Routes,
                ForwardedTo = node.ForwardedTo,
                ForwardedIn = node.IsSelf ? node.ForwardedIn : null,
                ForwardDropped = node.IsSelf ? cluster.ForwardDropped : null,
                LastSeenMs = node.LastSeen is { } seen ? (long)seen.TotalMilliseconds : null,
                Cluster = node.IsSelf ? cluster.ClusterName : null,
                NatsConnected = node.IsSelf ? cluster.NatsConnected : null,
                NatsServer = node.IsSelf ? cluster.NatsServer : null,
            };
        }
        return views;
    }
}

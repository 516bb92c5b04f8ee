using Broker.Cluster;
using Broker.Core.Hosting;
using Broker.Core.Alarms;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// <c>GET /alarms</c> (active, then cleared), <c>/alarms/activated</c>, <c>/alarms/deactivated</c>: EMQX 4's
    /// alarm endpoints, one entry per node of the cluster (this node's, then every other running node's, asked over
    /// NATS as the other lists are; a silent one in <c>node_errors</c>), and <c>/nodes/{node}/alarms...</c> for one.
    /// </summary>
    private static void MapAlarms(RouteGroupBuilder api, BrokerCore core, ClusterMembership? cluster)
    {
        foreach (var (path, which) in new[] { ("/alarms", "all"), ("/alarms/activated", "activated"), ("/alarms/deactivated", "deactivated") })
        {
            api.MapGet(path, (CancellationToken cancel) => ListAlarmsAsync(core, cluster, null, which, cancel));
            api.MapGet("/nodes/{node}" + path, (string node, CancellationToken cancel) => ListAlarmsAsync(core, cluster, node, which, cancel));
        }
    }

    private static async Task<IResult> ListAlarmsAsync(BrokerCore core, ClusterMembership? cluster, string? node, string which, CancellationToken cancel)
    {
        if (!TryScope(core, cluster, node, out var scope, out var error))
            return error;
        var parts = new List<NodeAlarms>();
        if (scope.Self)
            parts.Add(new NodeAlarms { Node = core.Status.NodeName, Alarms = LocalAlarms(core, which) });
        var gathered = await GatherAsync(cluster, scope, new ClusterQuestion { Op = "alarms", Query = which }, cancel).ConfigureAwait(false);
        foreach (var (name, answer) in gathered.Answers)
            parts.Add(new NodeAlarms { Node = name, Alarms = answer.Alarms ?? [] });
        return Ok(parts.ToArray(), ManagementJsonContext.Default.ApiResponseNodeAlarmsArray, nodeErrors: gathered.Errors);
    }

    /// <summary>This node's alarms: <paramref name="which"/> = activated, deactivated or all (active, then cleared).</summary>
    private static AlarmView[] LocalAlarms(BrokerCore core, string? which)
    {
        IReadOnlyList<Alarm> alarms = which switch
        {
            "activated" => core.Status.ActiveAlarms(),
            "deactivated" => core.Status.DeactivatedAlarms(),
            _ => [.. core.Status.ActiveAlarms(), .. core.Status.DeactivatedAlarms()],
        };
        var now = core.Status.Now;
        var views = new AlarmView[alarms.Count];
        for (var i = 0; i < views.Length; i++)
        {
            var alarm = alarms[i];
            views[i] = new AlarmView
            {
                Name = alarm.Name,
                Message = alarm.Message,
                Details = alarm.Details,
                Activated = alarm.DeactivatedAt is null,
                ActivateAt = Alarm.Microseconds(alarm.ActivatedAt),
                DeactivateAt = alarm.DeactivatedAt is { } cleared ? Alarm.Microseconds(cleared) : null,
                Duration = (long)((alarm.DeactivatedAt ?? now) - alarm.ActivatedAt).TotalSeconds,
            };
        }
        return views;
    }
}

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
    /// alarm endpoints, one entry per node.
    /// </summary>
    private static void MapAlarms(RouteGroupBuilder api, BrokerCore core)
    {
        api.MapGet("/alarms", () => AlarmsOk(core, [.. core.Status.ActiveAlarms(), .. core.Status.DeactivatedAlarms()]));
        api.MapGet("/alarms/activated", () => AlarmsOk(core, core.Status.ActiveAlarms()));
        api.MapGet("/alarms/deactivated", () => AlarmsOk(core, core.Status.DeactivatedAlarms()));
    }

    private static IResult AlarmsOk(BrokerCore core, IReadOnlyList<Alarm> alarms)
    {
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
        return Ok(new[] { new NodeAlarms { Node = core.Status.NodeName, Alarms = views } }, ManagementJsonContext.Default.ApiResponseNodeAlarmsArray);
    }
}

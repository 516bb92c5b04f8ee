using Broker.Core;
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
    private static void MapAlarms(RouteGroupBuilder api, BrokerEngine engine)
    {
        api.MapGet("/alarms", () => AlarmsOk(engine, [.. engine.Alarms.Active(), .. engine.Alarms.Deactivated()]));
        api.MapGet("/alarms/activated", () => AlarmsOk(engine, engine.Alarms.Active()));
        api.MapGet("/alarms/deactivated", () => AlarmsOk(engine, engine.Alarms.Deactivated()));
    }

    private static IResult AlarmsOk(BrokerEngine engine, List<Alarm> alarms)
    {
        var now = engine.Now;
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
        return Ok(new[] { new NodeAlarms { Node = engine.BrokerOptions.NodeName, Alarms = views } }, ManagementJsonContext.Default.ApiResponseNodeAlarmsArray);
    }
}

using Broker.Abstractions.Plugins;
using Broker.Core.Hosting;
using Broker.PluginHost;
using Broker.Server.Listeners;

namespace Broker.Server.Management;

/// <summary>
/// <see cref="IBrokerReadModel"/> for plugins, computed by the code that answers the management API's
/// <c>/stats</c>, <c>/metrics</c>, <c>/listeners</c>, <c>/routes</c> and <c>/plugins</c>, so a dashboard plugin and the
/// API never disagree.
/// </summary>
internal sealed class BrokerReadModel(IBrokerStatus status, ListenerManager listeners, PluginManager plugins) : IBrokerReadModel
{
    public IReadOnlyDictionary<string, long> Stats() => status.Stats();

    public IReadOnlyDictionary<string, long> Metrics() => status.Metrics();

    public IReadOnlyList<ListenerSummary> Listeners() =>
        [.. listeners.Listeners.Select(static l => new ListenerSummary(l.Identifier, l.Protocol, l.ListenOn.ToString(), l.IsRunning,
            l.CurrentConnections, l.Options.MaxConnections))];

    public IReadOnlyList<string> Routes() => status.RouteFilters();

    // ListAsync never waits (it reads the plugin table under a short lock), so a plugin may call this from its start.
    public IReadOnlyList<PluginSummary> Plugins() =>
        [.. plugins.ListAsync().GetAwaiter().GetResult().Select(static p => new PluginSummary(p.Name, p.Version, p.State.ToString().ToLowerInvariant(), p.StartsAtBoot, p.Hooks.Calls, p.Hooks.Time, p.Hooks.Failures))];
}

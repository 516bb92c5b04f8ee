namespace Broker.Abstractions.Plugins;

/// <summary>
/// What the management API shows about this node, for plugins that show it too (a dashboard, a status page): the same
/// numbers as <c>/api/v4/stats</c>, <c>/api/v4/metrics</c>, <c>/api/v4/listeners</c>, <c>/api/v4/routes</c> and
/// <c>/api/v4/plugins</c>, read now. Clients and subscriptions are on <see cref="IBrokerServices"/>. Since SDK 1.5.
/// </summary>
public interface IBrokerReadModel
{
    /// <summary>Gauges by name: <c>connections.count</c>, <c>sessions.count</c>, <c>subscriptions.count</c>, <c>topics.count</c>, ...</summary>
    IReadOnlyDictionary<string, long> Stats();

    /// <summary>Counters by name: <c>messages.received</c>, <c>bytes.sent</c>, ..., and plugins' instruments.</summary>
    IReadOnlyDictionary<string, long> Metrics();

    /// <summary>Every enabled MQTT listener.</summary>
    IReadOnlyList<ListenerSummary> Listeners();

    /// <summary>The routed topic filters (share prefixes removed), sorted.</summary>
    IReadOnlyList<string> Routes();

    /// <summary>Every plugin the broker knows, loaded or not.</summary>
    IReadOnlyList<PluginSummary> Plugins();
}

/// <summary>One MQTT listener as <c>/api/v4/listeners</c> shows it. Since SDK 1.5.</summary>
/// <param name="Identifier"><c>mqtt:tcp:external</c> and so on.</param>
/// <param name="Protocol"><c>mqtt:tcp</c>, <c>mqtt:ssl</c>, <c>mqtt:ws</c> or <c>mqtt:wss</c>.</param>
/// <param name="ListenOn">The address and port.</param>
/// <param name="Running">Whether it accepts connections now.</param>
/// <param name="CurrentConnections">Connections open on it.</param>
/// <param name="MaxConnections">Its <c>max_connections</c>.</param>
public sealed record ListenerSummary(string Identifier, string Protocol, string ListenOn, bool Running, int CurrentConnections, int MaxConnections);

/// <summary>One plugin as <c>/api/v4/plugins</c> shows it. Since SDK 1.5.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Version">Its version.</param>
/// <param name="State">running, stopped, failed, unloading or leaking.</param>
/// <param name="StartsAtBoot">Whether it is started at boot (data/loaded_plugins).</param>
/// <param name="HookCalls">Calls of its hook callbacks on connection (I/O) threads since the broker started (SDK 2.0).</param>
/// <param name="HookTime">The time those calls took on those threads (SDK 2.0).</param>
/// <param name="HookFailures">Its callbacks that threw or timed out (SDK 2.0).</param>
public sealed record PluginSummary(string Name, string Version, string State, bool StartsAtBoot, long HookCalls, TimeSpan HookTime, long HookFailures);

using Broker.Abstractions.Hooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Broker.Abstractions.Plugins;

/// <summary>
/// What the host gives one plugin instance: its name, configuration, logging, scoped hook registry, clock, data
/// directory and the broker's services. Every member is safe to use from any thread.
/// </summary>
/// <remarks>
/// The context belongs to one instance: a reload makes a new one. Do not keep it, or anything obtained from it,
/// in statics, and do not hand it to code that outlives the plugin.
/// </remarks>
public interface IPluginContext
{
    /// <summary>The plugin's name as operators type it (<c>plugin.json</c> <c>name</c>, e.g. <c>auth_redis</c>).</summary>
    string Name { get; }

    /// <summary>
    /// The plugin's configuration: <c>etc/plugins/&lt;name&gt;.conf</c> (<c>key.path = value</c> lines, keys read with
    /// <c>:</c> separators, e.g. <c>Configuration["redis:server"]</c>) overridden by environment variables
    /// <c>BROKER_PLUGINS__&lt;NAME&gt;__KEY__PATH</c>. Read afresh for every load and reload; empty when the file does not exist.
    /// </summary>
    IConfiguration Configuration { get; }

    /// <summary>The broker's logger factory. Loggers are cheap to create; name categories after the plugin.</summary>
    ILoggerFactory LoggerFactory { get; }

    /// <summary>
    /// A hook registry scoped to this plugin: every callback registered through it is counted against the plugin
    /// and removed when the plugin stops, whether or not the plugin disposed its registration.
    /// </summary>
    IHookRegistry Hooks { get; }

    /// <summary>
    /// The broker's clock. Use it for every timer and delay: timers created through it that are still alive when
    /// the plugin stops are disposed by the host.
    /// </summary>
    TimeProvider TimeProvider { get; }

    /// <summary>The plugin's private directory, <c>data/plugins/&lt;name&gt;/</c>; it exists when the plugin starts and survives reloads.</summary>
    string DataDirectory { get; }

    /// <summary>What the broker lets a plugin do: publish, subscribe clients, look up and kick clients.</summary>
    IBrokerServices Broker { get; }

    /// <summary>Cancelled when the host begins to stop this instance (unload, reload, shutdown), before <see cref="IBrokerPlugin.StopAsync"/>.</summary>
    CancellationToken Stopping { get; }

    /// <summary>
    /// Binds <see cref="Configuration"/> to a new <typeparamref name="T"/> through its
    /// <see cref="Configuration.ConfKeyAttribute"/> properties, with the broker's own rules: sizes (<c>64KB</c>),
    /// durations (<c>15s</c>), snake_case enums, <c>Min</c>/<c>Max</c>, and <see cref="Configuration.IValidatableOptions"/>;
    /// numbered entries through <see cref="Configuration.ConfListAttribute"/> (SDK 1.5). Since SDK 1.5 a key of the
    /// plugin's .conf file that <typeparamref name="T"/> does not bind is reported as unknown, as in broker.conf.
    /// Call it from <see cref="IBrokerPlugin.StartAsync"/>. Every bad value throws one
    /// <see cref="PluginConfigurationException"/> naming file, line and key; the host then reports the plugin
    /// as failed with a configuration error (<c>ctl plugins load</c> prints it and exits 1). Since SDK 1.1.
    /// </summary>
    /// <typeparam name="T">The plugin's options class; its property initialisers are the defaults.</typeparam>
    T BindOptions<T>() where T : new() =>
        throw new NotSupportedException("this host does not bind plugin options");

    /// <summary>
    /// Where a key of <see cref="Configuration"/> was set, for error messages about values a plugin checks itself
    /// (numbered rules, say): <c>/opt/broker/etc/plugins/topic_rewrite.conf:7</c>, or the environment variable's
    /// name; null when the key is not set. Throw <see cref="PluginConfigurationException"/> with
    /// <c>$"{context.OriginOf(key)}: {key} = {value}: problem"</c> and the operator sees it as for any bad value.
    /// Since SDK 1.2.
    /// </summary>
    /// <param name="key">The key as written in the .conf file, dotted (<c>rewrite.pub_rule.1</c>).</param>
    string? OriginOf(string key) => null;

    /// <summary>
    /// Data this plugin instance keeps with each connection, e.g. what authentication learned for authorization
    /// (see <see cref="IClientState"/>). Since SDK 1.4; the default implementation, for test doubles, throws.
    /// </summary>
    IClientState ClientState => throw new NotSupportedException("this host keeps no per-connection plugin state");

    /// <summary>
    /// This plugin instance's <see cref="System.Diagnostics.Metrics.Meter"/>: create counters, gauges and histograms on
    /// it (<c>context.Meter.CreateCounter&lt;long&gt;("queries")</c>) and the broker exports them as
    /// <c>&lt;plugin&gt;.&lt;instrument&gt;</c> in the management API's <c>/metrics</c>, <c>ctl broker metrics</c>,
    /// Prometheus (<c>broker_plugin_&lt;plugin&gt;_&lt;instrument&gt;</c>) and <c>$SYS/.../metrics/plugins/...</c>. Tags are
    /// summed into their instrument. The host disposes the meter when the plugin stops, so its instruments leave the
    /// exports with it. Since SDK 1.5; the default implementation, for test doubles, throws.
    /// </summary>
    System.Diagnostics.Metrics.Meter Meter => throw new NotSupportedException("this host exports no plugin metrics");

    /// <summary>
    /// Receives every message published to a topic matching <paramref name="topicFilter"/>, without a client session
    /// (bridges, web hooks, topic metrics): after <c>message.publish</c>, as subscribers get it, retained or not. The
    /// broker never waits for the handler: messages queue (at most <paramref name="capacity"/>) for one task that calls
    /// it in order; when the queue is full new messages are dropped for this subscription and counted. A handler that
    /// throws is logged and counted, and gets the next message. Filters follow MQTT (a leading wildcard does not match
    /// <c>$SYS/...</c>; subscribe to <c>$SYS/#</c> for those); <c>$share/</c> is refused. The token fires when the
    /// subscription is disposed or the plugin stops. In a cluster the filter is a route of this node while subscribed,
    /// as a client's subscription is, so messages published on other nodes come too (each message once, on the node
    /// that subscribed: a plugin loaded on every node gets each message on each). Since SDK 1.5; the default
    /// implementation, for test doubles, throws.
    /// </summary>
    /// <param name="topicFilter">A topic filter.</param>
    /// <param name="handler">Called with each message, one at a time.</param>
    /// <param name="capacity">Messages that may wait for the handler.</param>
    /// <exception cref="ArgumentException">Not a valid filter, or a shared one.</exception>
    IInternalSubscription SubscribeInternal(string topicFilter, Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity = 10_000) =>
        throw new NotSupportedException("this host has no internal subscriptions");

    /// <summary>
    /// HTTP endpoints this plugin adds to the management API, under <c>/api/v4/plugins/&lt;name&gt;/api/</c> with its
    /// authentication; removed when the plugin stops; listed with the plugin (<c>GET /api/v4/plugins</c>). Since SDK 1.5;
    /// the default implementation, for test doubles, throws.
    /// </summary>
    IPluginHttp Http => throw new NotSupportedException("this host serves no plugin endpoints");

    /// <summary>
    /// What the management API shows about this node (stats, metrics, listeners, routes, plugins), read now. Since SDK
    /// 1.5; the default implementation, for test doubles, throws.
    /// </summary>
    IBrokerReadModel ReadModel => throw new NotSupportedException("this host has no read model for plugins");

    /// <summary>
    /// A new client of the broker's own management API (<c>/api/v4</c>, EMQX 4's shapes; what <c>ctl</c> uses), for a
    /// plugin that offers the API to its own users (a dashboard): its <see cref="HttpClient.BaseAddress"/> is the API's
    /// listener (<c>http://127.0.0.1:8081/</c>) and every request carries a credential the broker made for this process,
    /// held in memory only, so the plugin needs no application secret. The plugin owns the client: dispose it when the
    /// plugin stops. Call it once the broker has started (from a request, not from <see cref="IBrokerPlugin.StartAsync"/>
    /// at boot, when the API is not listening yet). Since SDK 2.1; the default implementation, for test doubles, throws.
    /// </summary>
    HttpClient CreateManagementClient() => throw new NotSupportedException("this host has no management API for plugins");

    /// <summary>
    /// The cluster this broker is a node of, as this plugin sees it: the node's name, the other running nodes, and a
    /// channel to this plugin on them (see <see cref="IPluginCluster"/>). Since SDK 2.1; the default implementation, for
    /// test doubles, is a single node named <c>local</c>.
    /// </summary>
    IPluginCluster Cluster => SingleNodeCluster.Unknown;
}

/// <summary>Thrown by <see cref="IPluginContext.BindOptions{T}"/>: the message has one line per bad value (file:line: key ...).</summary>
/// <param name="message">The problems, one per line.</param>
public sealed class PluginConfigurationException(string message) : Exception(message);

namespace Broker.Abstractions.Plugins;

/// <summary>
/// The entry point of a plugin: the host creates one instance of the single public, non-abstract class implementing
/// this interface in the plugin's entry assembly (it needs a public parameterless constructor), calls
/// <see cref="StartAsync"/>, and later <see cref="StopAsync"/>. A reload creates a new instance in a new load
/// context and starts it before the old one is stopped.
/// </summary>
/// <remarks>
/// <para>Threading: the host never calls <see cref="StartAsync"/> and <see cref="StopAsync"/> of one instance
/// concurrently, but hook callbacks the plugin registered run on connection threads at any time in between, and
/// for a moment during a reload the old and the new instance both run.</para>
/// <para>Stopping: the host first removes the plugin's hook registrations and waits until none of its callbacks
/// runs (a call past its hook timeout is not waited for), and only then cancels <see cref="IPluginContext.Stopping"/>
/// and calls <see cref="StopAsync"/>; so StopAsync may close what the callbacks use (a connection pool) without a
/// callback failing on it. A chain that began before the removal goes on with the chain as it is now: during a
/// reload, with the new instance (since SDK 2.1).</para>
/// <para>Unloadability: after <see cref="StopAsync"/> the host disposes the
/// timers made through <see cref="IPluginContext.TimeProvider"/> and unloads the plugin's assemblies. Anything
/// else that still refers to the plugin's code keeps it in memory and the plugin is reported <c>leaking</c>:
/// stop your own threads and tasks, dispose connections and timers you made otherwise, unsubscribe from events
/// of host objects and static events, and never store the plugin's objects in statics of shared assemblies.</para>
/// </remarks>
public interface IBrokerPlugin
{
    /// <summary>
    /// Starts the plugin: read configuration, open connections, register hooks. The plugin counts as running when
    /// the returned task completes; if it throws or does not complete within <c>plugins.start_timeout</c>, the
    /// plugin is marked failed with the exception's message, its registrations are removed and it is unloaded.
    /// </summary>
    /// <param name="context">The plugin's view of the broker; valid until the plugin has stopped. Keep it in a field if needed.</param>
    /// <param name="cancellationToken">Cancelled when the start has overrun its time.</param>
    ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Stops the plugin: stop background work, flush and close connections. The host has already removed the hook
    /// registrations, and none of the callbacks runs any more. Bounded by <c>plugins.stop_timeout</c>: the host
    /// carries on unloading when it is overrun.
    /// </summary>
    /// <param name="cancellationToken">Cancelled when the stop has overrun its time.</param>
    ValueTask StopAsync(CancellationToken cancellationToken);
}

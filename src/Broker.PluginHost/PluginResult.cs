using Broker.Core.Hooks;

namespace Broker.PluginHost;

/// <summary>Where a plugin is in its life.</summary>
internal enum PluginState
{
    /// <summary>Not loaded (found in the plugins directory, or unloaded cleanly).</summary>
    Stopped,
    /// <summary>Started and serving.</summary>
    Running,
    /// <summary>Its load or start threw or timed out; see the reason. It holds no hooks.</summary>
    Failed,
    /// <summary>Being stopped and unloaded.</summary>
    Unloading,
    /// <summary>Unloaded, but its code was still in memory after <c>plugins.unload_timeout</c>: something keeps it alive.</summary>
    Leaking,
}

/// <summary>Why an operation on a plugin did not succeed.</summary>
internal enum PluginError
{
    None,
    UnknownPlugin,
    AlreadyLoaded,
    NotLoaded,
    InvalidManifest,
    IncompatibleSdk,
    ConfigurationError,
    StartFailed,
}

/// <summary>One plugin as <c>ctl plugins list</c> shows it.</summary>
/// <param name="Name">The plugin's name.</param>
/// <param name="Version">From plugin.json; empty when it cannot be read.</param>
/// <param name="Description">From plugin.json.</param>
/// <param name="State">Its state.</param>
/// <param name="Reason">Why it failed, leaks, or cannot be loaded; empty otherwise.</param>
/// <param name="StartsAtBoot">Listed in data/loaded_plugins.</param>
/// <param name="Hooks">
/// What this plugin's hook callbacks cost over every instance since the broker started: calls made on the calling
/// (connection I/O) thread and the time spent there, calls handed to the thread pool (blocking ones), and the ones that
/// threw or timed out.
/// </param>
/// <param name="LeakedInstances">Earlier instances (unloaded or replaced by a reload) still in memory.</param>
internal sealed record PluginInfo(string Name, string Version, string Description, PluginState State, string Reason, bool StartsAtBoot, HookTotals Hooks, int LeakedInstances);

/// <summary>The outcome of a load, unload or reload: <see cref="Error"/> None, or what went wrong in <see cref="Message"/>.</summary>
internal sealed record PluginResult(PluginError Error, string Message, PluginInfo? Plugin)
{
    public bool Succeeded => Error == PluginError.None;
}

/// <summary>A plugin operation failed for a reason an operator can act on.</summary>
internal sealed class PluginException(PluginError error, string message) : Exception(message)
{
    public PluginError Error { get; } = error;
}

using Broker.Core.Configuration;

namespace Broker.PluginHost;

/// <summary>Where plugins live and how long the host waits for them (<c>plugins.*</c> in broker.conf).</summary>
internal sealed class PluginHostOptions
{
    /// <remarks>Default <c>plugins</c> (relative to the broker home).</remarks>
    [ConfKey("plugins.directory", "Directory holding one folder per plugin (plugin.json and its build output) for plugins you install. A relative path is relative to the broker home. The shipped plugins are bundled in the plugins folder next to the broker's binaries and are found there; a plugin of the same name here takes precedence.")]
    public string Directory { get; set; } = "plugins";

    /// <remarks>Default 15s.</remarks>
    [ConfKey("plugins.start_timeout", "A plugin whose start has not completed in this time is marked failed and unloaded; the broker carries on.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <remarks>Default 10s.</remarks>
    [ConfKey("plugins.stop_timeout", "How long a plugin may take to stop before the host removes its hooks and unloads it anyway.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <remarks>Default 5s.</remarks>
    [ConfKey("plugins.unload_timeout", "How long the host waits for an unloaded plugin's code to be collected before it reports the plugin as leaking.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan UnloadTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

using Broker.Configuration;
using Broker.PluginHost;
using Microsoft.Extensions.Configuration;

namespace Broker.Server.Configuration;

/// <summary>The plugin host's view of etc/plugins/&lt;name&gt;.conf (<see cref="PluginConfiguration"/>).</summary>
/// <param name="etcDirectory">The broker's etc directory.</param>
/// <param name="environment">The environment to read overrides from; null for the process's own.</param>
internal sealed class PluginConfigurationSource(string etcDirectory, IDictionary<string, string>? environment = null) : IPluginConfigurationSource
{
    public IConfiguration Load(string name) => PluginConfiguration.Load(etcDirectory, name, environment);

    public IReadOnlyList<string> Bind(IConfiguration configuration, object options) => PluginConfiguration.BindOptions(configuration, options);

    public string? OriginOf(IConfiguration configuration, string key) => PluginConfiguration.OriginOf(configuration, key);
}

using Microsoft.Extensions.Configuration;

namespace Broker.PluginHost;

/// <summary>How the host reads plugins' configuration; the server implements it over etc/plugins/&lt;name&gt;.conf.</summary>
public interface IPluginConfigurationSource
{
    /// <summary>Reads a plugin's configuration afresh; throws (naming file, line and key) when it is bad.</summary>
    /// <param name="name">The plugin's name.</param>
    IConfiguration Load(string name);

    /// <summary>
    /// Binds <paramref name="configuration"/> to <paramref name="options"/> by its [ConfKey] properties; returns one
    /// "file:line: key = value: problem" line per bad value. Backs <c>IPluginContext.BindOptions</c>.
    /// </summary>
    IReadOnlyList<string> Bind(IConfiguration configuration, object options);

    /// <summary>Where <paramref name="key"/> (dotted) was set, e.g. <c>/etc/plugins/x.conf:3</c>; null when it is not set. Backs <c>IPluginContext.OriginOf</c>.</summary>
    string? OriginOf(IConfiguration configuration, string key);
}

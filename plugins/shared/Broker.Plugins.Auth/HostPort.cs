using System.Globalization;

namespace Broker.Plugins.Auth;

/// <summary>EMQX's <c>server = host:port</c> values.</summary>
public static class HostPort
{
    /// <summary>Splits <paramref name="server"/>; the port defaults to <paramref name="defaultPort"/>.</summary>
    /// <exception cref="PluginConfigurationException">Not host[:port]; the message names <paramref name="key"/>.</exception>
    public static (string Host, int Port) Parse(string server, int defaultPort, string key)
    {
        var colon = server.LastIndexOf(':');
        if (colon < 0)
            return server.Length > 0 ? (server, defaultPort) : throw new PluginConfigurationException($"{key}: empty, expected host:port");
        var host = server[..colon].Trim('[', ']');
        if (host.Length == 0 || !int.TryParse(server.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new PluginConfigurationException($"{key} = {server}: expected host:port with a port from 1 to 65535");
        return (host, port);
    }
}

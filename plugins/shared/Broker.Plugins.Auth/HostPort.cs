using System.Globalization;

namespace Broker.Plugins.Auth;

/// <summary>EMQX's <c>server = host:port</c> values.</summary>
public static class HostPort
{
    /// <summary>Splits <paramref name="server"/>; the port defaults to <paramref name="defaultPort"/>.</summary>
    /// <exception cref="PluginConfigurationException">Not host[:port]; the message names <paramref name="key"/>.</exception>
    public static (string Host, int Port) Parse(string server, int defaultPort, string key) =>
        TryParse(server, defaultPort, out var host, out var port, out var problem)
            ? (host, port)
            : throw new PluginConfigurationException(server.Length == 0 ? $"{key}: {problem}" : $"{key} = {server}: {problem}");

    /// <summary>Splits <paramref name="server"/>, or says what is wrong with it (for an options class's Validate).</summary>
    public static bool TryParse(string server, int defaultPort, out string host, out int port, out string problem)
    {
        host = server;
        port = defaultPort;
        problem = "";
        var colon = server.LastIndexOf(':');
        if (colon < 0)
        {
            if (server.Length > 0)
                return true;
            problem = "empty, expected host:port";
            return false;
        }
        host = server[..colon].Trim('[', ']');
        if (host.Length == 0 || !int.TryParse(server.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            problem = "expected host:port with a port from 1 to 65535";
            return false;
        }
        return true;
    }
}

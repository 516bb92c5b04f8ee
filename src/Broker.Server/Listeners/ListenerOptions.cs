using System.Net;
using Broker.Core.Configuration;

namespace Broker.Server.Listeners;

/// <summary>The MQTT/TCP listener (<c>listener.tcp.external*</c>).</summary>
public sealed class TcpListenerOptions : IValidatableOptions
{
    /// <remarks>Default 0.0.0.0:1883.</remarks>
    [ConfKey("listener.tcp.external", "Address and port of the MQTT/TCP listener: `port`, `ip:port` or `[ipv6]:port`. Port 0 picks a free port (the log says which).")]
    public string Bind { get; set; } = "0.0.0.0:1883";

    /// <remarks>Default 102400.</remarks>
    [ConfKey("listener.tcp.external.max_connections", "Most connections open at once on this listener; a connection beyond it is closed at once. Mind the process file descriptor limit (`ulimit -n`).", Min = "1", Max = "10000000")]
    public int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 1024.</remarks>
    [ConfKey("listener.tcp.external.backlog", "Length of the TCP accept queue.", Min = "1", Max = "65535")]
    public int Backlog { get; set; } = 1024;

    internal IPEndPoint EndPoint => TryParseEndPoint(Bind, out var endPoint) ? endPoint : throw new InvalidOperationException("validated at start");

    /// <inheritdoc/>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (!TryParseEndPoint(Bind, out _))
            yield return ("listener.tcp.external", $"'{Bind}' is not a port, ip:port or [ipv6]:port");
    }

    internal static bool TryParseEndPoint(string value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        if (ushort.TryParse(value, out var port))
        {
            endPoint = new IPEndPoint(IPAddress.Any, port);
            return true;
        }
        return IPEndPoint.TryParse(value, out endPoint) && value.Contains(':', StringComparison.Ordinal);
    }
}

/// <summary>Logging (<c>log.*</c>).</summary>
public sealed class LogOptions
{
    /// <remarks>Default info.</remarks>
    [ConfKey("log.level", "Least severe log level written to the console: trace, debug, information, warning, error, critical or none.")]
    public Microsoft.Extensions.Logging.LogLevel Level { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;
}

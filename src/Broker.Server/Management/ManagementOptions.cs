using System.Net;
using Broker.Core.Configuration;
using Broker.Server.Listeners;

namespace Broker.Server.Management;

/// <summary>The management HTTP API (<c>management.*</c>), named as in EMQX 4's emqx_management.</summary>
internal sealed class ManagementOptions : IValidatableOptions
{
    /// <remarks>Default 127.0.0.1:8081 (loopback only).</remarks>
    [ConfKey("management.listener", "Address and port of the management HTTP API (/api/v4/...), which `ctl` talks to: `port`, `ip:port` or `[ipv6]:port`. Loopback by default; anyone who can reach it with the credentials below can kick clients. Port 0 picks a free port (the log says which).")]
    public string Bind { get; set; } = "127.0.0.1:8081";

    /// <remarks>Default admin.</remarks>
    [ConfKey("management.default_application.id", "User name (application id) for HTTP basic authentication on the management API.")]
    public string ApplicationId { get; set; } = "admin";

    /// <remarks>Default: not set, so a random secret is generated at first start into data/management.secret.</remarks>
    [ConfKey("management.default_application.secret", "Password (application secret) for the management API. When not set, a random one is generated at first start into data/management.secret (mode 0600), which `ctl` reads; the log says where.")]
    public string? ApplicationSecret { get; set; }

    internal IPEndPoint EndPoint => TcpListenerOptions.TryParseEndPoint(Bind, out var endPoint)
        ? endPoint
        : throw new InvalidOperationException("validated at start");

    /// <inheritdoc/>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (!TcpListenerOptions.TryParseEndPoint(Bind, out _))
            yield return ("management.listener", $"'{Bind}' is not a port, ip:port or [ipv6]:port");
        if (string.IsNullOrWhiteSpace(ApplicationId) || ApplicationId.Contains(':', StringComparison.Ordinal))
            yield return ("management.default_application.id", "must be non-empty and contain no ':'");
        if (ApplicationSecret is { Length: < 8 })
            yield return ("management.default_application.secret", "must be at least 8 characters (or leave it unset to have one generated)");
    }
}

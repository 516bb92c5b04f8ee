using System.Net;

namespace Broker.Abstractions;

/// <summary>
/// What the broker knows of one connected client. A read-only view for plugins; the broker makes one per
/// connection once the CONNECT has been read (and the client id assigned, where the server assigns it).
/// </summary>
public sealed class ClientInfo
{
    /// <summary>The client identifier (assigned by the broker when the client sent an empty one under MQTT 5).</summary>
    public required string ClientId { get; init; }

    /// <summary>The user name from CONNECT, if any.</summary>
    public string? Username { get; init; }

    /// <summary>The remote address and port of the connection, if known.</summary>
    public IPEndPoint? RemoteEndPoint { get; init; }

    /// <summary>The protocol level the client connected with.</summary>
    public MqttProtocolVersion ProtocolVersion { get; init; }

    /// <summary>The keep-alive in force, in seconds (after any Server Keep Alive override).</summary>
    public ushort KeepAlive { get; init; }

    /// <summary>Clean Session (3.x) / Clean Start (5.0) as requested.</summary>
    public bool CleanStart { get; init; }

    /// <summary>When the CONNECT was accepted.</summary>
    public DateTimeOffset ConnectedAt { get; init; }

    /// <summary>The name of the listener the client connected through, e.g. <c>tcp:external</c>.</summary>
    public string Listener { get; init; } = "";

    /// <summary>The MQTT 5 CONNECT user properties, if any.</summary>
    public IReadOnlyList<MqttUserProperty>? UserProperties { get; init; }

    /// <summary>
    /// The Common Name of the TLS client certificate (EMQX's <c>%C</c>), or null without one (plain TCP, no client
    /// certificate asked for or given). SDK 1.4.
    /// </summary>
    public string? CertificateCommonName { get; init; }

    /// <summary>
    /// The subject distinguished name of the TLS client certificate (EMQX's <c>%d</c>), as .NET formats it
    /// (<c>CN=device-42, O=Example</c>), or null without one. SDK 1.4.
    /// </summary>
    public string? CertificateSubject { get; init; }

    /// <summary>The broker's own note for this connection: its recent authorization decisions. Not for plugins.</summary>
    internal object? AuthorizationCache;

    /// <summary>The broker's own note for this connection: the exact-filter route of its last PUBLISH's topic. Not for plugins.</summary>
    internal object? RouteMemo;
}

using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Bench.Client;

/// <summary>What MQTT runs over: plain TCP (the default), TLS, WebSocket or WebSocket over TLS.</summary>
internal enum TransportKind
{
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// <summary>
/// How a <see cref="BenchConnection"/> reaches the broker once its TCP connection is up: nothing more for
/// <see cref="TransportKind.Tcp"/>; a TLS handshake (the server's certificate is not checked: a load generator measures,
/// it does not trust); a WebSocket upgrade on <see cref="Path"/> with the subprotocol <c>mqtt</c> (MQTT 5.0, 6.0), its
/// MQTT bytes in binary messages. Every handshake is a full one: no TLS session is resumed, as for a fleet's first
/// connects.
/// </summary>
/// <param name="Kind">The transport.</param>
/// <param name="Host">The name sent as TLS SNI and HTTP Host.</param>
/// <param name="Path">The WebSocket path.</param>
internal sealed record BenchTransport(TransportKind Kind, string Host, string Path = "/mqtt")
{
    public static readonly BenchTransport Tcp = new(TransportKind.Tcp, "localhost");

    /// <summary>The stream MQTT is written to; null for plain TCP (the socket is used directly).</summary>
    public async Task<(Stream? Stream, WebSocket? WebSocket)> OpenAsync(Socket socket, CancellationToken cancellationToken)
    {
        if (Kind == TransportKind.Tcp)
            return (null, null);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (Kind is TransportKind.Tls or TransportKind.Wss)
        {
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = Host,
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            }, cancellationToken).ConfigureAwait(false);
            stream = tls;
        }
        if (Kind == TransportKind.Tls)
            return (stream, null);
        await UpgradeAsync(stream, cancellationToken).ConfigureAwait(false);
        var webSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
        {
            IsServer = false,
            SubProtocol = "mqtt",
            KeepAliveInterval = Timeout.InfiniteTimeSpan, // MQTT has its own
        });
        return (stream, webSocket);
    }

    /// <summary>The HTTP/1.1 upgrade (RFC 6455, 4.1): a GET with a random key, answered 101 with the key's accept hash.</summary>
    private async Task UpgradeAsync(Stream stream, CancellationToken cancellationToken)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {Path} HTTP/1.1\r\nHost: {Host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cancellationToken).ConfigureAwait(false);
        // Byte by byte up to the blank line, so nothing of the first WebSocket frame is read here.
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
                throw new BenchException("WebSocket upgrade: the broker closed the connection");
            head.Append((char)one[0]);
            if (head.Length > 8192)
                throw new BenchException("WebSocket upgrade: response headers over 8 KB");
        }
        var response = head.ToString();
        if (!response.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            throw new BenchException($"WebSocket upgrade refused: {response[..response.IndexOf('\r', StringComparison.Ordinal)]}");
#pragma warning disable CA5350 // RFC 6455 defines the accept value with SHA-1; it is a handshake check, not security
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        if (!response.Contains("Sec-WebSocket-Accept: " + accept, StringComparison.OrdinalIgnoreCase))
            throw new BenchException("WebSocket upgrade: wrong or missing Sec-WebSocket-Accept");
    }
}

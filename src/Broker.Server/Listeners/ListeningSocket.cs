using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// A listener's bound, listening TCP socket and its accept step (<see cref="EpollTransportFactory"/>).
/// </summary>
/// <remarks>
/// Accept errors other than the listener closing (out of descriptors, above all) are logged once per run of failures
/// and retried after a short pause: the connection waits in the kernel's backlog meanwhile, and the loop neither
/// spins nor stops.
/// </remarks>
internal sealed partial class ListeningSocket : IDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(50);

    private readonly Socket _socket;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private bool _failing;

    private ListeningSocket(Socket socket, TimeProvider time, ILogger logger, string name)
    {
        _socket = socket;
        _time = time;
        _logger = logger;
        _name = name;
        EndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Binds and listens; throws <see cref="SocketException"/> when the address cannot be bound.</summary>
    public static ListeningSocket Bind(IPEndPoint endPoint, int backlog, TimeProvider time, ILogger logger, string name)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // "[::]" also takes IPv4 clients, as Kestrel's does.
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.Bind(endPoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new ListeningSocket(socket, time, logger, name);
    }

    /// <summary>The next connection, with Nagle off; null once <paramref name="stopping"/> fires or the socket is closed.</summary>
    /// <remarks>Called from one loop at a time.</remarks>
    public async ValueTask<Socket?> AcceptAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var accepted = await _socket.AcceptAsync(stopping).ConfigureAwait(false);
                _failing = false;
                accepted.NoDelay = true;
                return accepted;
            }
            catch (Exception ex) when (stopping.IsCancellationRequested || ex is ObjectDisposedException || ex is SocketException { SocketErrorCode: SocketError.OperationAborted })
            {
                return null;
            }
            catch (SocketException ex)
            {
                if (!_failing)
                    LogAcceptFailed(_logger, _name, ex.SocketErrorCode, ex.Message);
                _failing = true;
                try
                {
                    await Task.Delay(RetryDelay, _time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }
        return null;
    }

    /// <summary>Stops accepting; connections already accepted are not touched.</summary>
    public void Dispose() => _socket.Dispose();

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning, Message = "Listener {Name} cannot accept connections ({Error}: {Message}); retrying, waiting connections stay in the backlog")]
    private static partial void LogAcceptFailed(ILogger logger, string name, SocketError error, string message);
}

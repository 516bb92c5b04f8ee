using System.Net.Sockets;

namespace Broker.Server.Listeners;

/// <summary>Why a listener could not be opened, in a few words (the socket error rather than Kestrel's wrapping).</summary>
internal static class ListenError
{
    public static string Reason(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
                return socket.Message;
        }
        return ex.Message;
    }
}

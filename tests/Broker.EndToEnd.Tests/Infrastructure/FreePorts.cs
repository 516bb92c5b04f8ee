using System.Net;
using System.Net.Sockets;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Ports for the servers tests start: below the kernel's ephemeral range (<c>net.ipv4.ip_local_port_range</c>), where
/// no outgoing connection is given its local port. A port from <c>bind(0)</c> lies inside that range, so a port kept
/// for a server a test starts only later (a backend down at start, a NATS server restarted) could meanwhile become
/// some client connection's local port: a full run once failed with EADDRINUSE that way.
/// </summary>
internal static class FreePorts
{
    private const int First = 20000;
    private static readonly int s_end = EphemeralStart();
    private static int s_next = First + Environment.ProcessId % 4000; // apart from a test run beside this one

    /// <summary>A port nothing listens on now, on 127.0.0.1.</summary>
    public static int Next()
    {
        if (s_end <= First + 1000)
            return Bound(0); // an unusual ephemeral range: the kernel's choice
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = First + (Interlocked.Increment(ref s_next) - First) % (s_end - First);
            try
            {
                return Bound(port);
            }
            catch (SocketException)
            {
                // Taken: the next one.
            }
        }
        return Bound(0);
    }

    private static int Bound(int port)
    {
        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static int EphemeralStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }
}

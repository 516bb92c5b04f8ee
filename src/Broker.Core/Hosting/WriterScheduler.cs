namespace Broker.Core.Hosting;

/// <summary>
/// Where a connection's writer runs (<see cref="ConnectionSettings.Writers"/>). A connection schedules its writer when
/// something is queued for it while no writer runs (a delivery, an acknowledgement); the writer encodes and flushes
/// what is queued and ends when the queue is empty.
/// </summary>
/// <remarks>
/// A listener's I/O loop is one: a writer scheduled on the loop's own thread (a subscriber on the same loop as its
/// publisher) runs there once the loop has served the sockets that were ready, so a delivery wakes no other thread;
/// one scheduled elsewhere (another loop, the thread pool, a plugin) is handed to the loop, which is woken for it, as
/// in mosquitto or netty, where a connection is written by its own loop.
/// </remarks>
public interface IWriterScheduler
{
    /// <summary>Runs <paramref name="writer"/> once, soon; never on the caller's stack. Never throws.</summary>
    void Schedule(IThreadPoolWorkItem writer);
}

/// <summary>Writers on the thread pool: for connections no I/O loop reads (<c>io_threads = 0</c>, systems without epoll).</summary>
public sealed class ThreadPoolWriterScheduler : IWriterScheduler
{
    private ThreadPoolWriterScheduler()
    {
    }

    /// <summary>The one instance.</summary>
    public static ThreadPoolWriterScheduler Instance { get; } = new();

    /// <summary>On the caller's worker's local queue, after what the caller is doing (a publisher delivering to many).</summary>
    public void Schedule(IThreadPoolWorkItem writer) => ThreadPool.UnsafeQueueUserWorkItem(writer, preferLocal: true);
}

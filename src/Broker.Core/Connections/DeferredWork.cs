
namespace Broker.Core.Connections;

/// <summary>
/// Where a connection's writer runs when it is scheduled (<see cref="OutboundQueue{T}"/>): on the thread pool, or,
/// when it is scheduled on an I/O loop's thread (the plain TCP listener's), on that same thread once the loop has
/// served the sockets that were ready, so that a delivery wakes no other thread.
/// </summary>
public static class DeferredWork
{
    [ThreadStatic]
    private static Queue<IThreadPoolWorkItem>? t_deferred;

    internal static void Schedule(IThreadPoolWorkItem item)
    {
        if (t_deferred is { } deferred)
            deferred.Enqueue(item);
        else
            ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: true); // after the publisher, on its worker
    }

    /// <summary>Makes the calling thread, an I/O loop, keep what is scheduled on it until it calls <see cref="RunDeferred"/>.</summary>
    public static void DeferOnCurrentThread() => t_deferred ??= new Queue<IThreadPoolWorkItem>();

    /// <summary>Runs what was scheduled on the calling thread, including what that schedules.</summary>
    public static void RunDeferred()
    {
        var deferred = t_deferred!;
        while (deferred.TryDequeue(out var item))
            item.Execute();
    }
}

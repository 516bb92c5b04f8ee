using System.Runtime.InteropServices;
using Broker.Core.Hosting;
using Broker.Core.Sessions;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>What an <see cref="EpollLoop"/> tells when its socket may have become readable.</summary>
internal interface IReadinessTarget
{
    /// <summary>Called on the loop's thread; never throws.</summary>
    /// <param name="peerClosed">The peer has shut down or reset the connection: after the data, the end.</param>
    void OnReadable(bool peerClosed);
}

/// <summary>
/// One thread waiting in <c>epoll_wait</c> (Linux) over the connections assigned to it, as mosquitto's one thread
/// does: what becomes readable is received, parsed and routed on this thread, and it runs the writers of its own
/// connections (<see cref="IWriterScheduler"/>). A subscriber on this loop delivered to from this loop is written
/// after the batch, so a message from an idle publisher costs one wake-up of one thread and no hand-over to the
/// thread pool (bench/README.md, "Where the time goes"); a writer scheduled from another thread (another loop, the
/// thread pool, a plugin) is posted to the loop, which the eventfd wakes once for everything posted meanwhile. A
/// connection holds no receive buffer and no pending operation while it waits: only its registration.
/// </summary>
/// <remarks>
/// Edge-triggered: a socket is reported when data arrives, and its reader receives once per report (it knows from a
/// short receive that it has everything, unless the peer has closed: then the end is still to be read). A
/// connection with more to read than one receive takes waits for the next turn of the loop (<see cref="Revisit"/>),
/// so one fast sender cannot hold the thread from the others. Anything that waits (a hook going to a database,
/// backpressure) continues on the thread pool as usual, and its next receive happens there.
/// <para>
/// Each epoll event carries its connection's slot in <see cref="_slots"/> (low 32 bits) and the slot's generation
/// (high 32): a report already taken from the kernel for a connection unregistered meanwhile finds the slot freed or
/// reused under a newer generation and is dropped. A slot is 16 bytes of one array, reused through a free list: no
/// dictionary node per connection (bench/README.md, "Idle connections").
/// </para>
/// </remarks>
internal sealed unsafe partial class EpollLoop : IWriterScheduler, IDisposable
{
    private const int EpollCtlAdd = 1;
    private const uint EpollIn = 0x001;
    private const uint EpollErr = 0x008;
    private const uint EpollHup = 0x010;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollEdgeTriggered = 1u << 31;
    private const int MaxEvents = 256;
    private const long WakeId = 0; // slot numbers in event data start at 1
    private const int CloExec = 0x80000;
    private const int NonBlock = 0x800;
    private const long StopSignal = 1L << 40; // added to the eventfd's count by Dispose; a post adds 1

    // struct epoll_event is packed on x86-64 (12 bytes); elsewhere its 64-bit data is aligned (16 bytes).
    private static readonly int s_eventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int s_dataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [ThreadStatic]
    private static EpollLoop? t_current;

    private readonly int _epoll;
    private readonly int _wake; // an eventfd: written when writers are posted (1) and to stop the loop (StopSignal)
    private readonly ILogger _logger;
    private readonly Lock _slotsLock = new(); // registering and unregistering; the loop reads without it
    private Slot[] _slots = new Slot[64];
    private int _slotsUsed;  // slots ever handed out: [0, _slotsUsed) are in use or on the free list
    private int _freeSlot = -1; // head of the free list, linked through Slot.NextFree
    private List<IReadinessTarget> _revisit = [];    // the loop's thread only
    private List<IReadinessTarget> _revisiting = [];
    private readonly Queue<IThreadPoolWorkItem> _writers = new(); // scheduled on the loop's thread; the loop's thread only
    private readonly Lock _postLock = new(); // posting from other threads, and stopping
    private Queue<IThreadPoolWorkItem> _posted = new();  // scheduled from other threads, under _postLock
    private Queue<IThreadPoolWorkItem> _taking = new();  // the loop's thread only: the posts it is running
    private volatile bool _signalled; // the eventfd has been written for what is in _posted (set under _postLock)
    private volatile bool _stopping;  // set under _postLock
    private bool _woken;

    private EpollLoop(string name, ILogger logger)
    {
        _logger = logger;
        _epoll = epoll_create1(CloExec);
        if (_epoll < 0)
            throw new IOException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})");
        _wake = eventfd(0, CloExec | NonBlock);
        if (_wake < 0 || !Add(_wake, WakeId))
        {
            var errno = Marshal.GetLastPInvokeError();
            Close();
            throw new IOException($"eventfd failed (errno {errno})");
        }
        new Thread(Run) { IsBackground = true, Name = name }.Start();
    }

    /// <summary>Whether this system has epoll; elsewhere connections use .NET's socket engine.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>Whether the calling thread is this loop's.</summary>
    public bool IsCurrent => t_current == this;

    /// <summary>Starts <paramref name="count"/> loops, named after the listener.</summary>
    public static EpollLoop[] StartMany(int count, string listener, ILogger logger)
    {
        var loops = new EpollLoop[count];
        try
        {
            for (var i = 0; i < count; i++)
                loops[i] = new EpollLoop($"{listener} io {i}", logger);
        }
        catch
        {
            foreach (var loop in loops)
                loop?.Dispose();
            throw;
        }
        return loops;
    }

    /// <summary>
    /// Watches <paramref name="fd"/> for <paramref name="target"/> until the descriptor is closed (closing it is what
    /// removes it) or <see cref="Unregister"/>; false if the loop has stopped.
    /// </summary>
    public bool TryRegister(nint fd, IReadinessTarget target, out long id)
    {
        lock (_slotsLock)
        {
            int index;
            if (_freeSlot >= 0)
            {
                index = _freeSlot;
                _freeSlot = _slots[index].NextFree;
            }
            else
            {
                if (_slotsUsed == _slots.Length)
                {
                    // The loop may be reading the old array: it sees every slot it was told about there too, and a
                    // slot freed after the copy only in the new one, as a report taken just before the free would.
                    var grown = new Slot[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    Volatile.Write(ref _slots, grown);
                }
                index = _slotsUsed++;
            }
            ref var slot = ref _slots[index];
            slot.NextFree = -1;
            Volatile.Write(ref slot.Target, target); // after the generation, for Find
            id = (long)slot.Generation << 32 | (uint)(index + 1);
        }
        if (!_stopping && Add((int)fd, id))
            return true;
        Unregister(id);
        return false;
    }

    /// <summary>No more reports for <paramref name="id"/>, even one already taken from the kernel.</summary>
    public void Unregister(long id)
    {
        var index = (int)(uint)id - 1;
        lock (_slotsLock)
        {
            ref var slot = ref _slots[index];
            if (slot.Target is null || slot.Generation != (int)(id >> 32))
                return;
            slot.Target = null;
            slot.Generation++;
            slot.NextFree = _freeSlot;
            _freeSlot = index;
        }
    }

    /// <summary>The target registered as <paramref name="id"/>, unless it has been unregistered since.</summary>
    private IReadinessTarget? Find(long id)
    {
        var slots = Volatile.Read(ref _slots);
        var index = (int)(uint)id - 1;
        if ((uint)index >= (uint)slots.Length)
            return null;
        ref var slot = ref slots[index];
        var target = Volatile.Read(ref slot.Target);
        // Unregister clears the target before it moves the generation on; a reuse sets the target after. Read the
        // generation after the target: a match means the target was this registration's or a later one's under a new
        // generation, which the generation then no longer matches.
        return target is not null && Volatile.Read(ref slot.Generation) == (int)(id >> 32) ? target : null;
    }

    /// <summary>
    /// On this loop's thread: <paramref name="target"/>, which has more to receive, gets another
    /// <see cref="IReadinessTarget.OnReadable"/> after the other sockets ready now.
    /// </summary>
    public void Revisit(IReadinessTarget target) => _revisit.Add(target);

    private bool Add(int fd, long id)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = EpollIn | EpollRdHup | EpollEdgeTriggered;
        *(long*)(ev + s_dataOffset) = id;
        return epoll_ctl(_epoll, EpollCtlAdd, fd, ev) == 0;
    }

    /// <summary>
    /// Runs <paramref name="writer"/> on this loop's thread: after the batch when called there, otherwise posted and
    /// the loop woken if it was not already; on the thread pool once the loop has been stopped.
    /// </summary>
    public void Schedule(IThreadPoolWorkItem writer)
    {
        if (t_current == this)
        {
            _writers.Enqueue(writer);
            return;
        }
        lock (_postLock)
        {
            if (!_stopping)
            {
                _posted.Enqueue(writer);
                // Under the lock, so no post writes to the eventfd after Dispose's stop, after which the loop closes it.
                if (!_signalled)
                {
                    _signalled = true;
                    Signal(1);
                }
                return;
            }
        }
        ThreadPoolWriterScheduler.Instance.Schedule(writer);
    }

    private void Signal(long value) => _ = write(_wake, &value, sizeof(long));

    /// <summary>The loop's thread, woken: true when the eventfd says stop. Reading it resets its count.</summary>
    private bool TakeSignal()
    {
        long value = 0;
        return read(_wake, &value, sizeof(long)) == sizeof(long) && value >= StopSignal;
    }

    /// <summary>The loop's thread, after each batch: the writers posted to it, then those scheduled on it (and by them).</summary>
    private void RunWriters()
    {
        if (_signalled)
        {
            lock (_postLock)
            {
                (_taking, _posted) = (_posted, _taking);
                _signalled = false;
            }
            while (_taking.TryDequeue(out var posted))
                Execute(posted);
        }
        while (_writers.TryDequeue(out var writer))
            Execute(writer);
    }

    private void Execute(IThreadPoolWorkItem writer)
    {
        try
        {
            writer.Execute();
        }
        catch (Exception ex)
        {
            // A bug in a writer, which handles its connection's failures itself: the loop keeps serving the others.
            LogUnexpected(_logger, ex, Thread.CurrentThread.Name);
        }
    }

    private void Run()
    {
        t_current = this;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * s_eventSize));
        try
        {
            while (!_woken)
            {
                var ready = epoll_wait(_epoll, events, MaxEvents, _revisit.Count > 0 ? 0 : -1);
                if (ready < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 4 /* EINTR */)
                        continue;
                    LogWaitFailed(_logger, Thread.CurrentThread.Name, errno);
                    return;
                }
                for (var i = 0; i < ready; i++)
                {
                    var ev = events + i * s_eventSize;
                    var id = *(long*)(ev + s_dataOffset);
                    if (id == WakeId)
                        _woken |= TakeSignal(); // writers posted (run after the batch), or Dispose's stop
                    else if (Find(id) is { } target)
                        Serve(target, (*(uint*)ev & (EpollRdHup | EpollHup | EpollErr)) != 0);
                }
                (_revisiting, _revisit) = (_revisit, _revisiting);
                foreach (var target in _revisiting)
                    Serve(target, peerClosed: false);
                _revisiting.Clear();
                RunWriters();
            }
        }
        finally
        {
            NativeMemory.Free(events);
            // Writers posted before the stop (the listener's connections closing) end on the thread pool.
            lock (_postLock)
            {
                _stopping = true; // should the loop have ended on its own
                while (_posted.TryDequeue(out var posted) || _writers.TryDequeue(out posted))
                    ThreadPoolWriterScheduler.Instance.Schedule(posted);
            }
            // Nothing writes to the eventfd once _stopping is set (both under _postLock), so it may be closed now.
            Close();
        }
    }

    private void Serve(IReadinessTarget target, bool peerClosed)
    {
        try
        {
            target.OnReadable(peerClosed);
        }
        catch (Exception ex)
        {
            // A bug, not a connection's failure: the connection's own code logs and closes on those. Keep serving.
            LogUnexpected(_logger, ex, Thread.CurrentThread.Name);
        }
    }

    private void Close()
    {
        if (_wake >= 0)
            _ = close(_wake);
        _ = close(_epoll);
    }

    /// <summary>Stops the thread; connections still registered are no longer watched (the listener has closed them).</summary>
    public void Dispose()
    {
        lock (_postLock)
        {
            if (_stopping)
                return;
            _stopping = true;
            Signal(StopSignal);
        }
    }

    /// <summary>One registration: 16 bytes, in place in the array.</summary>
    private struct Slot
    {
        public IReadinessTarget? Target;
        public int Generation; // moved on at each unregistration, so a stale report misses a reused slot
        public int NextFree;   // on the free list: the next free slot, or -1
    }

    [LoggerMessage(EventId = 213, Level = LogLevel.Error, Message = "{Thread}: epoll_wait failed (errno {Errno}); its connections are no longer read")]
    private static partial void LogWaitFailed(ILogger logger, string? thread, int errno);

    [LoggerMessage(EventId = 214, Level = LogLevel.Error, Message = "{Thread}: unexpected error serving a connection")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string? thread);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, void* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, void* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}

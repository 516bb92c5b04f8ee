using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;

namespace Broker.Core.AccessControl;

/// <summary>
/// Where the broker computes password hashes: <see cref="Concurrency"/> dedicated threads taking work in arrival
/// order, so a flood of CONNECTs with wrong passwords costs at most that many cores and never blocks a connection's
/// thread (the thread pool keeps serving everyone else while the hashes wait their turn).
/// </summary>
/// <remarks>
/// <para>
/// A user name that does not exist must not answer sooner than one that does (that would tell an attacker which names
/// exist), but it need not burn a hash either: <see cref="SimulateAsync"/> waits its turn in the same line and then
/// completes after the time a real hash of that cost takes on this machine (<see cref="EstimateHashTime"/>, measured
/// from the hashes actually computed) while the thread moves on.
/// </para>
/// <para>
/// A job whose <see cref="CancellationToken"/> fires before its turn (its connection gave up, the hook timed out) is
/// skipped: a herd that connects and leaves costs queue slots, not hashes.
/// </para>
/// </remarks>
internal sealed class PasswordHasher : IDisposable
{
    private const int EstimateSampleIterations = 1000;

    private readonly BlockingCollection<Job> _jobs = new(new ConcurrentQueue<Job>());
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread[] _threads;
    private long _computations;
    private long _simulations;
    private long _skipped;
    // Measured cost of one PBKDF2-SHA512 iteration, in Stopwatch ticks × 1024 (a moving average).
    private long _ticksPerIteration1024;

    /// <param name="concurrency">Hashing threads; 0 = half the cores (at least one).</param>
    public PasswordHasher(int concurrency = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(concurrency);
        Concurrency = concurrency == 0 ? DefaultConcurrency : concurrency;
        Span<byte> sample = stackalloc byte[64];
        var started = Stopwatch.GetTimestamp();
        Rfc2898DeriveBytes.Pbkdf2("sample"u8, "sample-salt-0000"u8, sample, EstimateSampleIterations, HashAlgorithmName.SHA512);
        _ticksPerIteration1024 = Math.Max(1, (Stopwatch.GetTimestamp() - started) * 1024 / EstimateSampleIterations);
        _threads = new Thread[Concurrency];
        for (var i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"password-hash-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Half the cores, at least one: the other half keeps serving the connected clients.</summary>
    public static int DefaultConcurrency => Math.Max(1, Environment.ProcessorCount / 2);

    public int Concurrency { get; }

    /// <summary>Jobs waiting for a thread.</summary>
    public int Queued => _jobs.Count;

    /// <summary>Hashes computed.</summary>
    public long Computations => Interlocked.Read(ref _computations);

    /// <summary>Hashes of unknown users answered in the time a real one takes, without computing it.</summary>
    public long Simulations => Interlocked.Read(ref _simulations);

    /// <summary>Jobs dropped because their caller had given up before their turn.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>What one PBKDF2-SHA512 hash of <paramref name="iterations"/> costs on this machine, as measured so far.</summary>
    public TimeSpan EstimateHashTime(int iterations) =>
        TimeSpan.FromSeconds((double)Volatile.Read(ref _ticksPerIteration1024) * iterations / 1024 / Stopwatch.Frequency);

    /// <summary>PBKDF2-HMAC-SHA512 of <paramref name="password"/>, computed on a hashing thread in its turn.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the turn came.</exception>
    public Task<byte[]> HashAsync(ReadOnlyMemory<byte> password, byte[] salt, int iterations, int length, CancellationToken cancellationToken)
    {
        var job = new Job(password.ToArray(), salt, iterations, length, cancellationToken);
        return Enqueue(job);
    }

    /// <summary>
    /// Completes after the time a hash of <paramref name="iterations"/> takes, having waited its turn like
    /// <see cref="HashAsync"/>, without computing anything.
    /// </summary>
    public Task SimulateAsync(int iterations, CancellationToken cancellationToken) =>
        Enqueue(new Job(null, null, iterations, 0, cancellationToken));

    private Task<byte[]> Enqueue(Job job)
    {
        try
        {
            _jobs.Add(job);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            throw new ObjectDisposedException(nameof(PasswordHasher), ex);
        }
        return job.Completion.Task;
    }

    private void Work()
    {
        try
        {
            foreach (var job in _jobs.GetConsumingEnumerable(_stop.Token))
                Run(job);
        }
        catch (OperationCanceledException)
        {
            // Disposed: what is still queued is cancelled by Dispose.
        }
    }

    private void Run(Job job)
    {
        if (job.CancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _skipped);
            job.Completion.TrySetCanceled(job.CancellationToken);
            return;
        }
        if (job.Password is null)
        {
            Interlocked.Increment(ref _simulations);
            var delay = EstimateHashTime(job.Iterations);
            // Real time, whatever clock the broker runs on: it stands for the real time a hash takes.
            _ = Task.Delay(delay).ContinueWith(static (_, state) => ((Job)state!).Completion.TrySetResult([]), job,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return;
        }
        try
        {
            var started = Stopwatch.GetTimestamp();
            var hash = Rfc2898DeriveBytes.Pbkdf2(job.Password, job.Salt!, job.Iterations, HashAlgorithmName.SHA512, job.Length);
            var perIteration = Math.Max(1, (Stopwatch.GetTimestamp() - started) * 1024 / job.Iterations);
            // An exponential moving average (1/8 weight): one hash preempted by the scheduler does not double the estimate.
            var current = Volatile.Read(ref _ticksPerIteration1024);
            Volatile.Write(ref _ticksPerIteration1024, current + ((perIteration - current) / 8));
            Interlocked.Increment(ref _computations);
            job.Completion.TrySetResult(hash);
        }
        catch (Exception ex)
        {
            job.Completion.TrySetException(ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(job.Password);
        }
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
            return;
        _jobs.CompleteAdding();
        _stop.Cancel();
        foreach (var thread in _threads)
            thread.Join();
        while (_jobs.TryTake(out var job))
            job.Completion.TrySetCanceled();
        _stop.Dispose();
        _jobs.Dispose();
    }

    private sealed class Job(byte[]? password, byte[]? salt, int iterations, int length, CancellationToken cancellationToken)
    {
        public byte[]? Password { get; } = password;
        public byte[]? Salt { get; } = salt;
        public int Iterations { get; } = iterations;
        public int Length { get; } = length;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public TaskCompletionSource<byte[]> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

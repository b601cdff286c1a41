// Phi(-a) = erfc(a / sqrt2) / 2, the standard normal's lower tail, for 0 <= a < kPhiTableEnd
// (where it falls from 0.5 to 1e-9), as the AVX2 and AVX-512 GELU kernels evaluate it: on each of
// 16 intervals of width kPhiTableEnd / 16, a degree-8 polynomial in t = a - (the interval's
// centre), in Horner form with FMA. kPhiTable[k][i] is the coefficient of t^k on interval i, so a
// vector looks up each lane's coefficients with one 16-entry permute per k and covers the whole
// range with a single polynomial's work.
//
// Fitted per interval for relative error (Lawson-reweighted least squares on Chebyshev points, in
// double, over the interval widened by 2% for the rounding of the interval index); max relative
// error 3.1e-7 with float coefficients and float FMA steps (emulated in numpy when fitting; the
// row-kernels ctest checks 2e-6 against erfc in double), most of it in the last intervals, where
// the terms cancel.
#pragma once

namespace sluice::internal {

inline constexpr float kPhiTableEnd = 6.0f;
inline constexpr float kPhiTableStep = kPhiTableEnd / 16;  // 0.375, exact

alignas(64) inline constexpr float kPhiTable[9][16] = {
    {
     4.256343246e-01f, 2.868877053e-01f, 1.742507070e-01f, 9.467574209e-02f,
     4.575362429e-02f, 1.958007924e-02f, 7.394607179e-03f, 2.457901137e-03f,
     7.175423088e-04f, 1.836699521e-04f, 4.116746641e-05f, 8.070944205e-06f,
     1.382813480e-06f, 2.068970275e-07f, 2.701667512e-08f, 3.077334165e-09f,
    },
    {
     -3.919909000e-01f, -3.405675888e-01f, -2.570739090e-01f, -1.685931832e-01f,
     -9.606149793e-02f, -4.755388945e-02f, -2.045267448e-02f, -7.642605808e-03f,
     -2.481190721e-03f, -6.998520112e-04f, -1.715061080e-04f, -3.651575753e-05f,
     -6.754736205e-06f, -1.085584813e-06f, -1.515816024e-07f, -1.838893482e-08f,
    },
    {
     3.674914688e-02f, 9.578463435e-02f, 1.205033958e-01f, 1.106392741e-01f,
     8.105189353e-02f, 4.903994873e-02f, 2.492669597e-02f, 1.074741408e-02f,
     3.954397980e-03f, 1.246611355e-03f, 3.376526583e-04f, 7.873710274e-05f,
     1.583141238e-05f, 2.747887038e-06f, 4.121125983e-07f, 5.344287146e-08f,
    },
    {
     6.303498894e-02f, 3.880164772e-02f, 5.188342649e-03f, -2.030581795e-02f,
     -2.958143875e-02f, -2.578931861e-02f, -1.684416272e-02f, -8.801933378e-03f,
     -3.788015805e-03f, -1.363708870e-03f, -4.145847342e-04f, -1.070986327e-04f,
     -2.361080260e-05f, -4.456132956e-06f, -7.216918902e-07f, -1.004810812e-07f,
    },
    {
     -9.079624899e-03f, -2.142058499e-02f, -2.129991166e-02f, -1.177703030e-02f,
     -1.028980361e-03f, 5.124289077e-03f, 6.109960377e-03f, 4.397623707e-03f,
     2.359509701e-03f, 1.006785315e-03f, 3.518315207e-04f, 1.023427903e-04f,
     2.503025826e-05f, 5.181769666e-06f, 9.123496056e-07f, 1.371004430e-07f,
    },
    {
     -9.114543907e-03f, -3.410445992e-03f, 3.215293866e-03f, 6.137209944e-03f,
     4.784513731e-03f, 1.754710451e-03f, -4.519331851e-04f, -1.153373858e-03f,
     -9.360018303e-04f, -5.127888289e-04f, -2.148820495e-04f, -7.220503176e-05f,
     -1.992325451e-05f, -4.577638265e-06f, -8.837665177e-07f, -1.442670907e-07f,
    },
    {
     1.495506847e-03f, 3.175687278e-03f, 2.337377518e-03f, 2.276456507e-04f,
     -1.208364964e-03f, -1.286267885e-03f, -6.309867022e-04f, -4.572234684e-05f,
     1.826028893e-04f, 1.702022710e-04f, 9.410012717e-05f, 3.825551175e-05f,
     1.223163781e-05f, 3.173469850e-06f, 6.799629659e-07f, 1.216645984e-07f,
    },
    {
     1.037030946e-03f, 1.513782772e-04f, -6.889094366e-04f, -7.684135344e-04f,
     -2.789122809e-04f, 1.670581114e-04f, 2.717329189e-04f, 1.556974603e-04f,
     2.891353870e-05f, -2.517053144e-05f, -2.725731792e-05f, -1.500495364e-05f,
     -5.858099030e-06f, -1.769388746e-06f, -4.294217888e-07f, -8.548739316e-08f,
    },
    {
     -1.845235529e-04f, -3.476578859e-04f, -1.659195841e-04f, 1.027184844e-04f,
     1.863230864e-04f, 9.223292000e-05f, -1.616884401e-05f, -4.938425263e-05f,
     -3.030156040e-05f, -6.609638604e-06f, 3.392196277e-06f, 3.918484254e-06f,
     2.057414804e-06f, 7.484891853e-07f, 2.083224189e-07f, 4.625320216e-08f,
    },
};

}  // namespace sluice::internal
